//! [`StreamsConfig`]: Kafka Streams' configuration keys and defaults.
//!
//! Values are kept as strings, as in a Java `Properties`, and parsed by the
//! typed getters, which fail with a message naming the key and the fix.
//! Keys this library does not know are passed to the Kafka clients.

use std::collections::BTreeMap;

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
pub const DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER: &str = "default.deserialization.exception.handler";
/// `replication.factor` of internal topics (-1: the broker's default).
pub const REPLICATION_FACTOR: &str = "replication.factor";
/// `max.task.idle.ms` (default 0).
pub const MAX_TASK_IDLE_MS: &str = "max.task.idle.ms";
/// `buffered.records.per.partition` (default 1000).
pub const BUFFERED_RECORDS_PER_PARTITION: &str = "buffered.records.per.partition";

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

    fn parse<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, StreamsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                StreamsError::Config(format!("'{key}' has the invalid value '{v}': set it to a number"))
            }),
        }
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

    /// `default.deserialization.exception.handler`.
    pub fn deserialization_handler(&self) -> Result<DeserializationHandler, StreamsError> {
        match self.get(DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER) {
            None => Ok(DeserializationHandler::LogAndFail),
            Some(v) => match v.rsplit('.').next().unwrap_or(v) {
                "LogAndFailExceptionHandler" | "LogAndFail" | "log_and_fail" => Ok(DeserializationHandler::LogAndFail),
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
