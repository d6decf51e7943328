//! [`StreamsConfig`]: Kafka Streams' configuration keys and defaults.
//!
//! Values are kept as strings, as in a Java `Properties`, and parsed by the
//! typed getters, which fail with a message naming the key and the fix.
//! Keys this library does not know are passed to the Kafka clients (see
//! [`StreamsConfig::client_properties`]): unprefixed ones to every client,
//! `consumer.`, `producer.` and `admin.` prefixed ones to that client only,
//! the prefix removed, overriding the unprefixed value.
//!
//! A configuration can also be read from the environment
//! ([`StreamsConfig::from_env`]), for container deployments:
//! `STREAMS_APPLICATION_ID=word-count` sets `application.id`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::StreamsError;
use crate::task::DeserializationHandler;

/// `application.id`: the consumer group, and the prefix of internal topics.
pub const APPLICATION_ID: &str = "application.id";
/// `bootstrap.servers`: the Kafka cluster.
pub const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";
/// `num.stream.threads` (default 1).
pub const NUM_STREAM_THREADS: &str = "num.stream.threads";
/// `commit.interval.ms` (30000, or 100 under exactly-once).
pub const COMMIT_INTERVAL_MS: &str = "commit.interval.ms";
/// `processing.guarantee` (`at_least_once` or `exactly_once_v2`).
pub const PROCESSING_GUARANTEE: &str = "processing.guarantee";
/// `state.dir` (default `<tmp>/kafka-streams`).
pub const STATE_DIR: &str = "state.dir";
/// `statestore.cache.max.bytes` (default 10 MiB).
pub const STATESTORE_CACHE_MAX_BYTES: &str = "statestore.cache.max.bytes";
/// `default.deserialization.exception.handler` (`LogAndFail` or `LogAndContinue`).
pub const DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER: &str =
    "default.deserialization.exception.handler";
/// `default.timestamp.extractor`: the extractor of sources without their
/// own, one of Kafka's built-ins (`FailOnInvalidTimestamp`, the default;
/// `LogAndSkipOnInvalidTimestamp`; `UsePartitionTimeOnInvalidTimestamp`;
/// `WallclockTimestampExtractor`), by simple or full Java class name.
pub const DEFAULT_TIMESTAMP_EXTRACTOR: &str = "default.timestamp.extractor";
/// `processing.exception.handler`: what a processor's error does,
/// `LogAndFailProcessingExceptionHandler` (the default: processing stops)
/// or `LogAndContinueProcessingExceptionHandler` (the record is dropped at
/// the failing processor and counted), by simple or full class name.
pub const PROCESSING_EXCEPTION_HANDLER: &str = "processing.exception.handler";
/// `replication.factor` of internal topics (-1: the broker's default).
pub const REPLICATION_FACTOR: &str = "replication.factor";
/// `max.task.idle.ms` (default 0).
pub const MAX_TASK_IDLE_MS: &str = "max.task.idle.ms";
/// `buffered.records.per.partition` (default 1000).
pub const BUFFERED_RECORDS_PER_PARTITION: &str = "buffered.records.per.partition";
/// `default.key.serde`: informational here, since the typed DSL takes its
/// serdes from `Consumed`/`Produced`/`Grouped`/`Materialized` or the types.
pub const DEFAULT_KEY_SERDE: &str = "default.key.serde";
/// `default.value.serde`: see [`DEFAULT_KEY_SERDE`].
pub const DEFAULT_VALUE_SERDE: &str = "default.value.serde";
/// `errors.dead.letter.queue.topic.name` (KIP-1034): when set, a record that
/// fails to deserialize is also written, with its original bytes and
/// `__streams.errors.*` headers, to this topic.
pub const ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME: &str = "errors.dead.letter.queue.topic.name";
/// `num.standby.replicas` (default 0; standby tasks are not implemented, a
/// value above 0 is accepted and logged).
pub const NUM_STANDBY_REPLICAS: &str = "num.standby.replicas";
/// `poll.ms`: how long a stream thread blocks in poll when it has nothing
/// buffered (default 100).
pub const POLL_MS: &str = "poll.ms";
/// `state.cleanup.delay.ms`: how long the state directory of a task this
/// instance no longer owns is kept before it is deleted (default 600000).
pub const STATE_CLEANUP_DELAY_MS: &str = "state.cleanup.delay.ms";
/// `client.id` (default `<application.id>-<process id>`): prefix of the
/// clients' ids.
pub const CLIENT_ID: &str = "client.id";
/// `application.server`: accepted and ignored (no interactive queries
/// across instances).
pub const APPLICATION_SERVER: &str = "application.server";
/// `default.api.timeout.ms` (default 60000): bound of the blocking calls at
/// start (metadata, topic creation) and at commit.
pub const DEFAULT_API_TIMEOUT_MS: &str = "default.api.timeout.ms";
/// `topology.optimization`: accepted; only `none` changes nothing here.
pub const TOPOLOGY_OPTIMIZATION: &str = "topology.optimization";
/// `task.timeout.ms` (default 300000): how long retriable failures (of a
/// commit, say) are retried before the stream thread fails.
pub const TASK_TIMEOUT_MS: &str = "task.timeout.ms";

/// Prefix of keys meant for the consumers only.
pub const CONSUMER_PREFIX: &str = "consumer.";
/// Prefix of keys meant for the producers only.
pub const PRODUCER_PREFIX: &str = "producer.";
/// Prefix of keys meant for the admin client only.
pub const ADMIN_PREFIX: &str = "admin.";
/// The prefix of environment variables [`StreamsConfig::from_env`] reads.
pub const ENV_PREFIX: &str = "STREAMS_";
/// The environment variable of the log level (`STREAMS_LOG=info`), which
/// [`StreamsConfig::from_env`] leaves out.
pub const LOG_ENV: &str = "STREAMS_LOG";

/// The keys Kafka Streams itself reads; they are not passed to the Kafka
/// clients (except `bootstrap.servers` and `client.id`, which the runtime
/// sets on each client).
pub const STREAMS_KEYS: &[&str] = &[
    APPLICATION_ID,
    BOOTSTRAP_SERVERS,
    NUM_STREAM_THREADS,
    COMMIT_INTERVAL_MS,
    PROCESSING_GUARANTEE,
    STATE_DIR,
    STATESTORE_CACHE_MAX_BYTES,
    DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER,
    DEFAULT_TIMESTAMP_EXTRACTOR,
    PROCESSING_EXCEPTION_HANDLER,
    REPLICATION_FACTOR,
    MAX_TASK_IDLE_MS,
    BUFFERED_RECORDS_PER_PARTITION,
    DEFAULT_KEY_SERDE,
    DEFAULT_VALUE_SERDE,
    ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME,
    NUM_STANDBY_REPLICAS,
    POLL_MS,
    STATE_CLEANUP_DELAY_MS,
    CLIENT_ID,
    APPLICATION_SERVER,
    DEFAULT_API_TIMEOUT_MS,
    TOPOLOGY_OPTIMIZATION,
    TASK_TIMEOUT_MS,
];

/// Kafka Streams keys of the Java client that change nothing this crate
/// computes (metrics, the task assignor, rolling upgrades): accepted, so a
/// configuration written for Java runs unchanged, and kept from the Kafka
/// clients (librdkafka refuses keys it does not know). The runtime logs
/// that they have no effect.
pub const IGNORED_STREAMS_KEYS: &[&str] = &[
    "metrics.recording.level",
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "metric.reporters",
    "built.in.metrics.version",
    "enable.metrics.push",
    "upgrade.from",
    "acceptable.recovery.lag",
    "max.warmup.replicas",
    "probing.rebalance.interval.ms",
    "task.assignor.class",
    "rack.aware.assignment.strategy",
    "rack.aware.assignment.tags",
    "rack.aware.assignment.traffic_cost",
    "rack.aware.assignment.non_overlap_cost",
    "log.summary.interval.ms",
    "repartition.purge.interval.ms",
];

/// Kafka Streams keys that would change results, accepted with Java's
/// default value only: `(key, default, what to do instead)`.
const DEFAULT_ONLY_STREAMS_KEYS: &[(&str, &str, &str)] = &[
    (
        "default.production.exception.handler",
        "DefaultProductionExceptionHandler",
        "custom production exception handlers are not supported; remove the setting (retriable send errors are retried, others fail the task, as with Kafka's default)",
    ),
    (
        "default.dsl.store",
        "rocksDB",
        "choose each store's kind with Materialized::with_store_type(StoreType::InMemory) (or Stores::in_memory_key_value_store) instead",
    ),
    (
        "windowstore.changelog.additional.retention.ms",
        "86400000",
        "the window changelogs keep their store's retention plus one day; remove the setting",
    ),
    (
        "rocksdb.config.setter",
        "",
        "RocksDB options are not set through a class here; remove the setting",
    ),
];

/// Kafka Streams' `processing.guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// `at_least_once` (the default): the producer is flushed, then input
    /// offsets are committed; after a crash some records are processed
    /// again.
    #[default]
    AtLeastOnce,
    /// `exactly_once_v2`: one transactional producer per stream thread;
    /// output, changelog records and input offsets commit atomically.
    ExactlyOnceV2,
}

impl ProcessingGuarantee {
    /// The config value (`at_least_once` or `exactly_once_v2`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingGuarantee::AtLeastOnce => "at_least_once",
            ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
        }
    }
}

/// Kafka Streams' configuration.
///
/// ```
/// use streams_core::config::StreamsConfig;
/// let config = StreamsConfig::new()
///     .set("application.id", "word-count")
///     .set("bootstrap.servers", "localhost:9092");
/// assert_eq!(config.application_id().unwrap(), "word-count");
/// assert_eq!(config.cache_max_bytes().unwrap(), 10 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamsConfig {
    props: BTreeMap<String, String>,
}

impl StreamsConfig {
    /// An empty configuration (every key at its default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// Every key that is set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A configuration read from the process environment: every variable
    /// `STREAMS_<NAME>` sets the key `<name>` lowercased, with `_` read as
    /// `.` and `__` as `_` (`STREAMS_APPLICATION_ID` -> `application.id`,
    /// `STREAMS_CONSUMER_MAX_POLL_INTERVAL_MS` ->
    /// `consumer.max.poll.interval.ms`).
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// let config = StreamsConfig::new().set("application.id", "fallback");
    /// // Variables that are not set leave the configuration as it is.
    /// let config = config.with_env();
    /// assert!(config.get("application.id").is_some());
    /// ```
    pub fn from_env() -> Self {
        Self::new().with_env()
    }

    /// This configuration overlaid with the `STREAMS_*` environment
    /// variables (see [`from_env`](Self::from_env)); the environment wins.
    pub fn with_env(self) -> Self {
        self.with_vars(std::env::vars())
    }

    /// This configuration overlaid with `STREAMS_*` pairs from `vars`, as
    /// [`from_env`](Self::from_env) reads them from the environment.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// let config = StreamsConfig::new().with_vars([
    ///     ("STREAMS_APPLICATION_ID".to_string(), "word-count".to_string()),
    ///     ("STREAMS_NUM_STREAM_THREADS".to_string(), "2".to_string()),
    ///     ("STREAMS_PRODUCER_LINGER_MS".to_string(), "5".to_string()),
    ///     ("STREAMS_MAIN_CONSUMER_MAX_POLL_RECORDS".to_string(), "10".to_string()),
    ///     ("STREAMS_LOG".to_string(), "info".to_string()),
    ///     ("HOME".to_string(), "/root".to_string()),
    /// ]);
    /// assert_eq!(config.get("application.id"), Some("word-count"));
    /// assert_eq!(config.num_stream_threads().unwrap(), 2);
    /// assert_eq!(config.get("producer.linger.ms"), Some("5"));
    /// assert_eq!(config.get("main.consumer.max.poll.records"), Some("10"));
    /// assert_eq!(config.iter().count(), 4);
    /// ```
    pub fn with_vars(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // `STREAMS_LOG` sets the log level (see `runtime::init_logging`),
            // not a configuration key.
            if rest.is_empty() || name == LOG_ENV {
                continue;
            }
            let key = rest
                .to_ascii_lowercase()
                .split("__")
                .map(|part| part.replace('_', "."))
                .collect::<Vec<_>>()
                .join("_");
            self.props.insert(key, value);
        }
        self
    }

    /// The properties of one Kafka client: every key this library does not
    /// read itself, then the ones with `prefix` (`consumer.`, `producer.`
    /// or `admin.`), prefix removed, which override them. Keys with another
    /// client's prefix are left out.
    ///
    /// ```
    /// use streams_core::config::{StreamsConfig, CONSUMER_PREFIX};
    /// let config = StreamsConfig::new()
    ///     .set("application.id", "app")
    ///     .set("session.timeout.ms", "10000")
    ///     .set("consumer.session.timeout.ms", "6000")
    ///     .set("producer.linger.ms", "5");
    /// let props = config.client_properties(CONSUMER_PREFIX);
    /// assert_eq!(props, vec![("session.timeout.ms".to_string(), "6000".to_string())]);
    /// ```
    pub fn client_properties(&self, prefix: &str) -> Vec<(String, String)> {
        let prefixes = [
            CONSUMER_PREFIX,
            PRODUCER_PREFIX,
            ADMIN_PREFIX,
            "main.consumer.",
            "restore.consumer.",
            "global.consumer.",
        ];
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.props {
            if STREAMS_KEYS.contains(&k.as_str())
                || IGNORED_STREAMS_KEYS.contains(&k.as_str())
                || DEFAULT_ONLY_STREAMS_KEYS.iter().any(|(key, _, _)| key == k)
                || prefixes.iter().any(|p| k.starts_with(p))
            {
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.props {
            if let Some(stripped) = k.strip_prefix(prefix) {
                out.insert(stripped.to_string(), v.clone());
            }
        }
        out.into_iter().collect()
    }

    fn parse_min<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &self,
        key: &str,
        default: T,
        min: T,
    ) -> Result<T, StreamsError> {
        let v = self.parse(key, default)?;
        if v < min {
            return Err(StreamsError::Config(format!(
                "'{key}' is {v}: set it to at least {min}"
            )));
        }
        Ok(v)
    }

    /// `bootstrap.servers`, which is required to run on Kafka.
    pub fn bootstrap_servers(&self) -> Result<&str, StreamsError> {
        match self.get(BOOTSTRAP_SERVERS) {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(StreamsError::Config(
                "'bootstrap.servers' is missing: set it to the Kafka brokers to connect to, as host:port[,host:port...]".into(),
            )),
        }
    }

    /// `num.stream.threads` (default 1, at least 1).
    pub fn num_stream_threads(&self) -> Result<usize, StreamsError> {
        self.parse_min(NUM_STREAM_THREADS, 1, 1)
    }

    /// `processing.guarantee` (default `at_least_once`).
    ///
    /// ```
    /// use streams_core::config::{ProcessingGuarantee, StreamsConfig};
    /// let config = StreamsConfig::new().set("processing.guarantee", "exactly_once_v2");
    /// assert_eq!(config.processing_guarantee().unwrap(), ProcessingGuarantee::ExactlyOnceV2);
    /// assert_eq!(config.commit_interval_ms().unwrap(), 100);
    /// let bad = StreamsConfig::new().set("processing.guarantee", "exactly_once");
    /// assert!(bad.processing_guarantee().unwrap_err().to_string().contains("exactly_once_v2"));
    /// ```
    pub fn processing_guarantee(&self) -> Result<ProcessingGuarantee, StreamsError> {
        match self.get(PROCESSING_GUARANTEE).map(str::trim) {
            None | Some("at_least_once") => Ok(ProcessingGuarantee::AtLeastOnce),
            Some("exactly_once_v2") => Ok(ProcessingGuarantee::ExactlyOnceV2),
            Some(other) => Err(StreamsError::Config(format!(
                "'{PROCESSING_GUARANTEE}' has the unknown value '{other}': use at_least_once or exactly_once_v2 (exactly_once and exactly_once_beta were removed in Kafka 4.0)"
            ))),
        }
    }

    /// `commit.interval.ms`: 30000 by default, 100 under exactly-once.
    pub fn commit_interval_ms(&self) -> Result<u64, StreamsError> {
        let default = match self.processing_guarantee()? {
            ProcessingGuarantee::AtLeastOnce => 30_000,
            ProcessingGuarantee::ExactlyOnceV2 => 100,
        };
        self.parse(COMMIT_INTERVAL_MS, default)
    }

    /// `state.dir` (default `<tmp>/kafka-streams`).
    pub fn state_dir(&self) -> PathBuf {
        match self.get(STATE_DIR) {
            Some(dir) if !dir.trim().is_empty() => PathBuf::from(dir),
            _ => std::env::temp_dir().join("kafka-streams"),
        }
    }

    /// `replication.factor` of internal topics (-1, the broker's default,
    /// by default).
    pub fn replication_factor(&self) -> Result<i32, StreamsError> {
        let v: i32 = self.parse(REPLICATION_FACTOR, -1)?;
        if v == 0 || v < -1 {
            return Err(StreamsError::Config(format!(
                "'{REPLICATION_FACTOR}' is {v}: set it to -1 (the broker's default) or a positive number"
            )));
        }
        Ok(v)
    }

    /// `max.task.idle.ms` (default 0, at least -1): how long a task with
    /// several input partitions waits for records on an empty one before it
    /// processes the others. -1 never waits; 0 waits only while records
    /// are known to be on the broker and not fetched yet; a positive value
    /// waits that many more milliseconds for new records.
    pub fn max_task_idle_ms(&self) -> Result<i64, StreamsError> {
        self.parse_min(MAX_TASK_IDLE_MS, 0, -1)
    }

    /// `buffered.records.per.partition` (default 1000, at least 1).
    pub fn buffered_records_per_partition(&self) -> Result<usize, StreamsError> {
        self.parse_min(BUFFERED_RECORDS_PER_PARTITION, 1000, 1)
    }

    /// `errors.dead.letter.queue.topic.name`, if set.
    pub fn dead_letter_queue_topic(&self) -> Option<&str> {
        self.get(ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// `num.standby.replicas` (default 0).
    pub fn num_standby_replicas(&self) -> Result<u32, StreamsError> {
        self.parse(NUM_STANDBY_REPLICAS, 0)
    }

    /// `poll.ms` (default 100).
    pub fn poll_ms(&self) -> Result<u64, StreamsError> {
        self.parse(POLL_MS, 100)
    }

    /// `state.cleanup.delay.ms` (default 600000).
    pub fn state_cleanup_delay_ms(&self) -> Result<u64, StreamsError> {
        self.parse(STATE_CLEANUP_DELAY_MS, 600_000)
    }

    /// `task.timeout.ms` (default 300000): how long a call that keeps
    /// failing with a retriable error (a commit while the group coordinator
    /// moves, a broker briefly unreachable) is retried before the stream
    /// thread fails.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// assert_eq!(StreamsConfig::new().task_timeout_ms().unwrap(), 300_000);
    /// let c = StreamsConfig::new().set("task.timeout.ms", "1000");
    /// assert_eq!(c.task_timeout_ms().unwrap(), 1000);
    /// ```
    pub fn task_timeout_ms(&self) -> Result<u64, StreamsError> {
        self.parse(TASK_TIMEOUT_MS, 300_000)
    }

    /// `default.api.timeout.ms` (default 60000, at least 1).
    pub fn default_api_timeout_ms(&self) -> Result<u64, StreamsError> {
        self.parse_min(DEFAULT_API_TIMEOUT_MS, 60_000, 1)
    }

    /// Checks every key Kafka Streams reads, so that a bad value fails at
    /// start with a message naming the key and the fix.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// let err = StreamsConfig::new()
    ///     .set("application.id", "app")
    ///     .set("bootstrap.servers", "localhost:9092")
    ///     .set("num.stream.threads", "zero")
    ///     .validate()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("num.stream.threads"));
    /// ```
    pub fn validate(&self) -> Result<(), StreamsError> {
        self.application_id()?;
        self.bootstrap_servers()?;
        self.num_stream_threads()?;
        self.processing_guarantee()?;
        self.commit_interval_ms()?;
        self.cache_max_bytes()?;
        self.deserialization_handler()?;
        self.default_timestamp_extractor()?;
        self.continue_on_processing_error()?;
        self.replication_factor()?;
        self.max_task_idle_ms()?;
        self.buffered_records_per_partition()?;
        self.num_standby_replicas()?;
        self.poll_ms()?;
        self.state_cleanup_delay_ms()?;
        self.default_api_timeout_ms()?;
        self.task_timeout_ms()?;
        for (key, default, instead) in DEFAULT_ONLY_STREAMS_KEYS {
            if let Some(v) = self.get(key) {
                // By simple or full class name, or exactly the default.
                if v.rsplit('.').next() != Some(*default) && v != *default {
                    return Err(StreamsError::Config(format!("'{key}' is '{v}': {instead}")));
                }
            }
        }
        let id = self.application_id()?;
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(StreamsError::Config(format!(
                "'application.id' '{id}' contains '{c}': use only letters, digits, '.', '_' and '-' (it prefixes topic names)"
            )));
        }
        Ok(())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, StreamsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                StreamsError::Config(format!(
                    "'{key}' has the invalid value '{v}': set it to a number"
                ))
            }),
        }
    }

    /// The keys set among [`IGNORED_STREAMS_KEYS`], which have no effect.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// let config = StreamsConfig::new()
    ///     .set("application.id", "app")
    ///     .set("metrics.recording.level", "DEBUG");
    /// assert_eq!(config.ignored_keys(), vec!["metrics.recording.level"]);
    /// assert!(config.client_properties("consumer.").is_empty());
    /// ```
    pub fn ignored_keys(&self) -> Vec<&str> {
        IGNORED_STREAMS_KEYS
            .iter()
            .copied()
            .filter(|k| self.get(k).is_some())
            .collect()
    }

    /// `application.id`, which is required.
    pub fn application_id(&self) -> Result<&str, StreamsError> {
        match self.get(APPLICATION_ID) {
            Some(id) if !id.trim().is_empty() => Ok(id),
            _ => Err(StreamsError::Config(
                "'application.id' is missing: set it to a name unique to this application (it is the consumer group and the prefix of internal topics)".into(),
            )),
        }
    }

    /// `statestore.cache.max.bytes` (default 10 MiB).
    pub fn cache_max_bytes(&self) -> Result<usize, StreamsError> {
        self.parse(STATESTORE_CACHE_MAX_BYTES, 10 * 1024 * 1024)
    }

    /// Whether `processing.exception.handler` continues past a failed
    /// processor.
    pub(crate) fn continue_on_processing_error(&self) -> Result<bool, StreamsError> {
        match self.get(PROCESSING_EXCEPTION_HANDLER) {
            None => Ok(false),
            Some(v) => match v.rsplit('.').next().unwrap_or(v) {
                "LogAndFailProcessingExceptionHandler" | "LogAndFail" => Ok(false),
                "LogAndContinueProcessingExceptionHandler" | "LogAndContinue" => Ok(true),
                _ => Err(StreamsError::Config(format!(
                    "'{PROCESSING_EXCEPTION_HANDLER}' has the unknown value '{v}': use LogAndFailProcessingExceptionHandler or LogAndContinueProcessingExceptionHandler"
                ))),
            },
        }
    }

    /// `default.timestamp.extractor`.
    pub(crate) fn default_timestamp_extractor(
        &self,
    ) -> Result<crate::processor::timestamp_extractor::DefaultExtractor, StreamsError> {
        use crate::processor::timestamp_extractor::DefaultExtractor;
        match self.get(DEFAULT_TIMESTAMP_EXTRACTOR) {
            None => Ok(DefaultExtractor::default()),
            Some(v) => DefaultExtractor::from_name(v).ok_or_else(|| {
                StreamsError::Config(format!(
                    "'{DEFAULT_TIMESTAMP_EXTRACTOR}' has the unknown value '{v}': use FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, UsePartitionTimeOnInvalidTimestamp or WallclockTimestampExtractor, and give a source its own extractor with Consumed::with_timestamp_extractor"
                ))
            }),
        }
    }

    /// `default.deserialization.exception.handler`.
    pub fn deserialization_handler(&self) -> Result<DeserializationHandler, StreamsError> {
        match self.get(DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER) {
            None => Ok(DeserializationHandler::LogAndFail),
            Some(v) => match v.rsplit('.').next().unwrap_or(v) {
                "LogAndFailExceptionHandler" | "LogAndFail" | "log_and_fail" => {
                    Ok(DeserializationHandler::LogAndFail)
                }
                "LogAndContinueExceptionHandler" | "LogAndContinue" | "log_and_continue" => {
                    Ok(DeserializationHandler::LogAndContinue)
                }
                other => Err(StreamsError::Config(format!(
                    "'{DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER}' has the unknown value '{other}': use LogAndFail or LogAndContinue"
                ))),
            },
        }
    }
}
