//! Application-wide shutdown requests
//! ([`StreamsUncaughtExceptionResponse::ShutdownApplication`](super::StreamsUncaughtExceptionResponse::ShutdownApplication))
//! between the instances of an application, in any process.
//!
//! Kafka Streams carries such a request through the consumer group: the
//! failing client puts an error code in its subscription userdata, the
//! group leader's assignor hands the code to every member, and every member
//! then shuts down. librdkafka lets an application write neither its own
//! subscription userdata nor its own assignor, so the request travels
//! through a topic instead: `<application.id>-shutdown-requests`, one
//! partition, created with the other internal topics. The failing instance
//! writes one record there; every instance reads the topic with an
//! assign-mode consumer that never joins a group, from the end offset the
//! partition had when the instance started, so that a request written
//! before an instance started (by an earlier run of the application) never
//! stops it.
//!
//! A request record: the key is the requesting instance's process id, the
//! value the error that made it request the shutdown (UTF-8), and the
//! headers [`CLIENT_ID_HEADER`] and [`THREAD_HEADER`] name its client and
//! stream thread.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::config::{ConsumerRole, RuntimeConfig};
use super::errors::{RuntimeError, RuntimeResult};

/// The suffix of the topic's name, after `<application.id>-`.
pub(crate) const TOPIC_SUFFIX: &str = "shutdown-requests";
/// The header naming the requester's `client.id`.
pub(crate) const CLIENT_ID_HEADER: &str = "__streams.shutdown.client.id";
/// The header naming the requester's failing stream thread.
pub(crate) const THREAD_HEADER: &str = "__streams.shutdown.thread";

/// How long the watcher waits for a record in one poll (and, as
/// `fetch.wait.max.ms`, how long the broker holds an empty fetch): the
/// delay before an instance hears of a request.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// The shutdown-request topic of `application_id`.
pub(crate) fn topic(application_id: &str) -> String {
    format!("{application_id}-{TOPIC_SUFFIX}")
}

/// A request to shut the whole application down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShutdownRequest {
    /// The requesting instance's process id (unique per `KafkaStreams`).
    pub(crate) process_id: String,
    /// Its `client.id`.
    pub(crate) client_id: String,
    /// The stream thread that failed.
    pub(crate) thread: String,
    /// The error it failed with.
    pub(crate) reason: String,
}

impl ShutdownRequest {
    fn headers(&self) -> OwnedHeaders {
        OwnedHeaders::new()
            .insert(Header {
                key: CLIENT_ID_HEADER,
                value: Some(self.client_id.as_bytes()),
            })
            .insert(Header {
                key: THREAD_HEADER,
                value: Some(self.thread.as_bytes()),
            })
    }

    /// Reads a request record; fields that are missing or not UTF-8 are
    /// empty (a request is a request, whoever wrote it).
    fn from_message<M: Message>(m: &M) -> Self {
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let header = |name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name).map(|h| text(h.value)))
                .unwrap_or_default()
        };
        ShutdownRequest {
            process_id: text(m.key()),
            client_id: header(CLIENT_ID_HEADER),
            thread: header(THREAD_HEADER),
            reason: text(m.payload()),
        }
    }
}

/// Writes `request` to the application's shutdown-request topic and waits
/// until the cluster acknowledged it (at most `default.api.timeout.ms`).
pub(crate) fn send(cfg: &RuntimeConfig, request: &ShutdownRequest) -> RuntimeResult<()> {
    ensure_topic(cfg)?;
    let mut config = cfg.producer_config(0);
    // A plain producer, whatever the guarantee: the request is not part of
    // any transaction, and is sent once, at once.
    config.remove("transactional.id");
    config
        .set("client.id", format!("{}-shutdown-producer", cfg.client_id))
        .set("enable.idempotence", "false")
        .set("acks", "all")
        .set("linger.ms", "0");
    let producer: BaseProducer = config.create().map_err(|e| {
        RuntimeError::Config(format!(
            "cannot create the producer of shutdown requests: {e}: check the producer settings"
        ))
    })?;
    let topic = topic(&cfg.application_id);
    let record = BaseRecord::<'_, [u8], [u8]>::to(&topic)
        .partition(0)
        .key(request.process_id.as_bytes())
        .payload(request.reason.as_bytes())
        .headers(request.headers());
    producer.send(record).map_err(|(e, _)| {
        RuntimeError::client(format!("sending a shutdown request to {topic}"), e)
    })?;
    // flush fails unless every queued record was delivered.
    producer
        .flush(cfg.api_timeout)
        .map_err(|e| RuntimeError::client(format!("sending a shutdown request to {topic}"), e))
}

/// Creates the shutdown-request topic (a no-op when it exists), the
/// first time an instance of the application starts or asks the others to
/// stop.
fn ensure_topic(cfg: &RuntimeConfig) -> RuntimeResult<()> {
    let topic = super::internal_topics::shutdown_requests_topic(&cfg.application_id);
    let client = super::internal_topics::MetadataClient::new(cfg)?;
    super::internal_topics::ensure_topics(cfg, &client, &[topic])
}

/// Creates the shutdown-request topic and watches it from its start: for an
/// instance that found no such topic when it started.
pub(crate) fn create_and_watch(cfg: &RuntimeConfig) -> RuntimeResult<Watcher> {
    ensure_topic(cfg)?;
    Watcher::from_beginning(cfg)
}

/// Reads the shutdown requests written after it was created.
pub(crate) struct Watcher {
    consumer: BaseConsumer,
    topic: String,
    /// When the last read error was logged (errors repeat while a broker is
    /// away; one line a minute is enough).
    last_error_log: Option<Instant>,
}

impl Watcher {
    /// Starts reading at the partition's current end offset; fails when the
    /// cluster does not answer within `default.api.timeout.ms`.
    pub(crate) fn new(cfg: &RuntimeConfig) -> RuntimeResult<Self> {
        Self::open(cfg, false)
    }

    /// Starts reading at the partition's start (for a topic this instance
    /// created: everything in it is newer than the instance).
    fn from_beginning(cfg: &RuntimeConfig) -> RuntimeResult<Self> {
        Self::open(cfg, true)
    }

    fn open(cfg: &RuntimeConfig, from_beginning: bool) -> RuntimeResult<Self> {
        let mut config = cfg.consumer_config(0, ConsumerRole::Restore);
        config
            .set(
                "client.id",
                format!("{}-shutdown-request-consumer", cfg.client_id),
            )
            // librdkafka wants a group id to assign partitions; this
            // consumer neither joins the group nor commits to it.
            .set(
                "group.id",
                format!("{}-shutdown-request-consumer", cfg.application_id),
            )
            .set("fetch.wait.max.ms", WATCH_INTERVAL.as_millis().to_string())
            .set("auto.offset.reset", "latest")
            .set("isolation.level", "read_uncommitted");
        let consumer: BaseConsumer = config.create().map_err(|e| {
            RuntimeError::Config(format!(
                "cannot create the consumer of shutdown requests: {e}: check the consumer settings"
            ))
        })?;
        let topic = topic(&cfg.application_id);
        let (low, end) = consumer
            .fetch_watermarks(&topic, 0, cfg.api_timeout)
            .map_err(|e| RuntimeError::client(format!("reading the end offset of {topic}"), e))?;
        let end = if from_beginning { low } else { end };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(end))
            .map_err(|e| RuntimeError::client(format!("assigning {topic}"), e))?;
        consumer
            .assign(&tpl)
            .map_err(|e| RuntimeError::client(format!("assigning {topic}"), e))?;
        log::debug!("watching {topic} for shutdown requests from offset {end}");
        Ok(Watcher {
            consumer,
            topic,
            last_error_log: None,
        })
    }

    /// Waits up to the watch interval for the next request.
    pub(crate) fn poll(&mut self) -> Option<ShutdownRequest> {
        match self.consumer.poll(WATCH_INTERVAL)? {
            Ok(m) => Some(ShutdownRequest::from_message(&m)),
            Err(e) => {
                if self
                    .last_error_log
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                {
                    self.last_error_log = Some(Instant::now());
                    log::warn!("reading shutdown requests from {}: {e}", self.topic);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;

    #[test]
    fn a_request_reads_back_from_its_record() {
        let request = ShutdownRequest {
            process_id: "6f1c2a4e-0000-4000-8000-000000000001".into(),
            client_id: "app-client".into(),
            thread: "app-client-StreamThread-2".into(),
            reason: "processor 'p' failed: boom".into(),
        };
        let m = OwnedMessage::new(
            Some(request.reason.as_bytes().to_vec()),
            Some(request.process_id.as_bytes().to_vec()),
            topic("app"),
            Timestamp::CreateTime(1),
            0,
            7,
            Some(request.headers()),
        );
        assert_eq!(ShutdownRequest::from_message(&m), request);
        assert_eq!(topic("app"), "app-shutdown-requests");
    }

    #[test]
    fn a_bare_record_is_a_request_with_empty_fields() {
        let m = OwnedMessage::new(
            None,
            None,
            topic("app"),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert_eq!(
            ShutdownRequest::from_message(&m),
            ShutdownRequest {
                process_id: String::new(),
                client_id: String::new(),
                thread: String::new(),
                reason: String::new(),
            }
        );
    }
}
