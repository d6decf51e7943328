//! Small clients for examples and tests: write records to a topic, read a
//! topic to its end, and wait until an application has processed (and
//! committed) its input. They work on a real cluster and on an
//! [`EmbeddedKafka`](super::EmbeddedKafka).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::message::Headers as _;
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::errors::RuntimeError;
use crate::error::StreamsError;
use crate::processor::Headers;

/// A record as written to or read from a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaRecord {
    /// The key bytes (`None`: a null key).
    pub key: Option<Vec<u8>>,
    /// The value bytes (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
    /// The record timestamp (ms).
    pub timestamp: i64,
    /// The headers.
    pub headers: Headers,
    /// The partition (when producing: `None` lets the partitioner choose,
    /// murmur2 of the key as Java clients do).
    pub partition: Option<i32>,
    /// The offset (set when read).
    pub offset: i64,
}

impl KafkaRecord {
    /// A record to produce.
    ///
    /// ```
    /// use streams_core::runtime::KafkaRecord;
    /// let r = KafkaRecord::new(Some(b"k".to_vec()), Some(b"v".to_vec()), 1000);
    /// assert_eq!(r.partition, None);
    /// ```
    pub fn new(key: Option<Vec<u8>>, value: Option<Vec<u8>>, timestamp: i64) -> Self {
        KafkaRecord {
            key,
            value,
            timestamp,
            ..Default::default()
        }
    }

    /// The same record for partition `partition`.
    ///
    /// ```
    /// use streams_core::runtime::KafkaRecord;
    /// let r = KafkaRecord::new(None, Some(b"v".to_vec()), 0).with_partition(2);
    /// assert_eq!(r.partition, Some(2));
    /// ```
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The value as UTF-8 text, if it is some.
    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The key as UTF-8 text, if it is some.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn kafka_err(operation: &str) -> impl Fn(KafkaError) -> StreamsError + '_ {
    move |e| RuntimeError::client(operation, e).into()
}

/// Writes `records` to `topic`, in order, and waits until the cluster
/// acknowledged them all (at most 60 s); a record the cluster refused is an
/// error. The producer is idempotent (a retry neither duplicates nor
/// reorders) and kept for the next call to the same cluster.
///
/// ```
/// use streams_core::runtime::{create_topics, produce, read_topic, EmbeddedKafka, KafkaRecord, TopicSpec};
/// let kafka = EmbeddedKafka::start().unwrap();
/// create_topics(kafka.bootstrap_servers(), &[TopicSpec::new("t", 1)]).unwrap();
/// produce(kafka.bootstrap_servers(), "t", &[KafkaRecord::new(None, Some(b"hello".to_vec()), 5)]).unwrap();
/// let read = read_topic(kafka.bootstrap_servers(), "t", false).unwrap();
/// assert_eq!(read[0].value_str(), Some("hello"));
/// assert_eq!(read[0].timestamp, 5);
/// ```
pub fn produce(
    bootstrap_servers: &str,
    topic: &str,
    records: &[KafkaRecord],
) -> Result<(), StreamsError> {
    let producer = shared_producer(bootstrap_servers)?;
    let call = Arc::new(Deliveries::default());
    for r in records {
        let mut record: BaseRecord<'_, [u8], [u8], Arc<Deliveries>> =
            BaseRecord::with_opaque_to(topic, call.clone()).timestamp(r.timestamp);
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(v) = &r.value {
            record = record.payload(v);
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if !r.headers.is_empty() {
            let mut h = rdkafka::message::OwnedHeaders::new();
            for header in r.headers.iter() {
                h = h.insert(rdkafka::message::Header {
                    key: &header.key,
                    value: header.value.as_deref(),
                });
            }
            record = record.headers(h);
        }
        call.pending.fetch_add(1, Ordering::SeqCst);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    record = back;
                    producer.poll(Duration::from_millis(20));
                }
                Err((e, _)) => {
                    call.pending.fetch_sub(1, Ordering::SeqCst);
                    return Err(kafka_err("producing")(e));
                }
            }
        }
    }
    // Wait for this call's records only (others may share the producer).
    let deadline = Instant::now() + Duration::from_secs(60);
    while call.pending.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return Err(RuntimeError::IllegalState(format!(
                "{} records to {topic} were not acknowledged within 60 s",
                call.pending.load(Ordering::SeqCst)
            ))
            .into());
        }
        producer.poll(Duration::from_millis(10));
    }
    match call.error.lock().ok().and_then(|mut e| e.take()) {
        Some(e) => Err(StreamsError::Kafka(format!(
            "producing to {topic} failed: {e}"
        ))),
        None => Ok(()),
    }
}

/// The outcome of the records of one [`produce`] call.
#[derive(Default)]
struct Deliveries {
    pending: AtomicUsize,
    error: Mutex<Option<String>>,
}

/// Hands each delivery report to the [`produce`] call it belongs to.
struct DeliveryContext;

impl rdkafka::ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<Deliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, call: Arc<Deliveries>) {
        if let Err((e, _)) = result
            && let Ok(mut first) = call.error.lock()
        {
            first.get_or_insert_with(|| e.to_string());
        }
        call.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

type SharedProducer = Arc<BaseProducer<DeliveryContext>>;

fn producers() -> &'static Mutex<HashMap<String, SharedProducer>> {
    static PRODUCERS: OnceLock<Mutex<HashMap<String, SharedProducer>>> = OnceLock::new();
    PRODUCERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// One producer per cluster, kept for the process: an idempotent producer
/// takes half a second to start (it first gets a producer id), which
/// tests producing in many small slices would pay each time.
fn shared_producer(bootstrap: &str) -> Result<SharedProducer, StreamsError> {
    let mut all = producers()
        .lock()
        .map_err(|_| StreamsError::Kafka("the producer cache is poisoned".into()))?;
    if let Some(p) = all.get(bootstrap) {
        return Ok(p.clone());
    }
    let producer: BaseProducer<DeliveryContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        // Retries (a broker busy or briefly unreachable) must neither
        // duplicate nor reorder records: tests pin exact offsets and order.
        .set("enable.idempotence", "true")
        .create_with_context(DeliveryContext)
        .map_err(kafka_err("creating a producer"))?;
    let producer = Arc::new(producer);
    all.insert(bootstrap.to_string(), producer.clone());
    Ok(producer)
}

/// Drops the cached producer of `bootstrap` (its embedded broker stops).
pub(crate) fn forget_producer(bootstrap: &str) {
    let removed = producers()
        .lock()
        .ok()
        .and_then(|mut all| all.remove(bootstrap));
    drop(removed);
}

/// Calls `f` until it succeeds or `deadline` passes (then its error is
/// returned): a look-up fails while a broker is busy or briefly
/// unreachable, and succeeds once it answers again.
fn retry<T>(
    deadline: Instant,
    operation: &str,
    mut f: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, StreamsError> {
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() < deadline => {
                log::debug!("{operation} failed, retrying: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(kafka_err(operation)(e)),
        }
    }
}

fn assign_consumer(bootstrap: &str, read_committed: bool) -> Result<BaseConsumer, StreamsError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Assign mode needs a group id; nothing is committed to it.
        .set("group.id", "streams-tools-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .map_err(kafka_err("creating a consumer"))
}

/// Reads every partition of `topic` from its start to its current end (the
/// last stable offset when `read_committed`, which then skips records of
/// open and aborted transactions), ordered by partition then offset.
pub fn read_topic(
    bootstrap_servers: &str,
    topic: &str,
    read_committed: bool,
) -> Result<Vec<KafkaRecord>, StreamsError> {
    let timeout = Duration::from_secs(30);
    let deadline = Instant::now() + Duration::from_secs(60);
    let consumer = assign_consumer(bootstrap_servers, read_committed)?;
    let metadata = retry(deadline, "reading topic metadata", || {
        consumer.fetch_metadata(Some(topic), timeout)
    })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = std::collections::BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = retry(deadline, "reading end offsets", || {
            consumer.fetch_watermarks(topic, p, timeout)
        })?;
        if high > low {
            ends.insert(p, high);
            tpl.add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(kafka_err("assigning partitions"))?;
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer
        .assign(&tpl)
        .map_err(kafka_err("assigning partitions"))?;
    let mut last_error = None;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut headers = Headers::new();
                if let Some(h) = m.headers() {
                    for h in h.iter() {
                        headers.add(h.key, h.value.map(<[u8]>::to_vec));
                    }
                }
                out.push(KafkaRecord {
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp().to_millis().unwrap_or(-1),
                    headers,
                    partition: Some(m.partition()),
                    offset: m.offset(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            // A consumer's errors are reports (a connection dropped, all
            // brokers briefly down under load ...): it reconnects and goes
            // on by itself, so they only matter if the end is not reached.
            Some(Err(e)) => last_error = Some(e),
        }
        let positions = consumer
            .position()
            .map_err(kafka_err("reading positions"))?;
        let done = positions.elements().iter().all(|e| match e.offset() {
            Offset::Offset(o) => o >= ends.get(&e.partition()).copied().unwrap_or(0),
            _ => false,
        });
        if done {
            break;
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::IllegalState(format!(
                "reading {topic} to its end took more than 60 s (last client error: {})",
                last_error.map_or_else(|| "none".to_string(), |e| e.to_string())
            ))
            .into());
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// Waits until the consumer group `application_id` has committed offsets
/// at the end of every partition of `topics` and of the application's
/// repartition topics (`<application_id>-...-repartition`), that is until
/// the application has processed its whole input and, its commit having
/// flushed the producer first (or committed its transaction), written all
/// its output. Offsets that stop short of the end only by transaction
/// markers (or aborted records) count as the end. Returns `false` on
/// timeout.
pub fn wait_until_processed(
    bootstrap_servers: &str,
    application_id: &str,
    topics: &[&str],
    timeout: Duration,
) -> Result<bool, StreamsError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .set("group.id", application_id)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(kafka_err("creating a consumer"))?;
    let deadline = Instant::now() + timeout;
    loop {
        // A failed look-up (a broker busy or briefly unreachable) is asked
        // again until the deadline; only the last failure is reported.
        let failure = match processed_now(&consumer, bootstrap_servers, application_id, topics) {
            Ok(true) => return Ok(true),
            Ok(false) => None,
            Err(e) => Some(e),
        };
        if Instant::now() >= deadline {
            return match failure {
                Some(e) => Err(e),
                None => Ok(false),
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One look at the committed offsets of `application_id` (see
/// [`wait_until_processed`]).
fn processed_now(
    consumer: &BaseConsumer,
    bootstrap_servers: &str,
    application_id: &str,
    topics: &[&str],
) -> Result<bool, StreamsError> {
    let call_timeout = Duration::from_secs(10);
    let repartition_prefix = format!("{application_id}-");
    let metadata = consumer
        .fetch_metadata(None, call_timeout)
        .map_err(kafka_err("reading topic metadata"))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for t in metadata.topics() {
        let wanted = topics.contains(&t.name())
            || (t.name().starts_with(&repartition_prefix) && t.name().ends_with("-repartition"));
        if !wanted {
            continue;
        }
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(t.name(), p.id(), call_timeout)
                .map_err(kafka_err("reading end offsets"))?;
            tpl.add_partition(t.name(), p.id());
            ends.push((t.name().to_string(), p.id(), high));
        }
    }
    for topic in topics {
        if !ends.iter().any(|(t, _, _)| t == topic) {
            return Err(RuntimeError::MissingSourceTopic((*topic).to_string()).into());
        }
    }
    let committed = consumer
        .committed_offsets(tpl, call_timeout)
        .map_err(kafka_err("reading committed offsets"))?;
    for (t, p, high) in &ends {
        let at = committed
            .find_partition(t, *p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let done = match at {
            _ if *high == 0 => true,
            Some(o) if o >= *high => true,
            Some(o) => only_markers_between(bootstrap_servers, t, *p, o, *high)?,
            None => false,
        };
        if !done {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `topic`-`partition` holds no committed record in `from..to`
/// (only transaction markers or aborted records).
fn only_markers_between(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
) -> Result<bool, StreamsError> {
    let consumer = assign_consumer(bootstrap, true)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(kafka_err("assigning a partition"))?;
    consumer
        .assign(&tpl)
        .map_err(kafka_err("assigning a partition"))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) if m.offset() < to => return Ok(false),
            Some(Ok(_)) => return Ok(true),
            _ => {}
        }
        let positions = consumer
            .position()
            .map_err(kafka_err("reading positions"))?;
        if positions
            .elements()
            .iter()
            .any(|e| matches!(e.offset(), Offset::Offset(o) if o >= to))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The configs set on `topic` itself (`cleanup.policy`, `retention.ms` ...,
/// those whose source is the topic rather than a broker default), read
/// with the admin API of a real cluster. An
/// [`EmbeddedKafka`](super::EmbeddedKafka) does not answer it.
///
/// ```no_run
/// use streams_core::runtime::topic_configs;
/// let configs = topic_configs("localhost:9092", "word-count-counts-store-changelog").unwrap();
/// assert_eq!(configs.get("cleanup.policy").map(String::as_str), Some("compact"));
/// ```
pub fn topic_configs(
    bootstrap_servers: &str,
    topic: &str,
) -> Result<std::collections::BTreeMap<String, String>, StreamsError> {
    use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let timeout = Duration::from_secs(30);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .create()
        .map_err(kafka_err("creating an admin client"))?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = futures::executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options),
    )
    .map_err(kafka_err("describing topic configs"))?;
    let mut out = std::collections::BTreeMap::new();
    for result in results {
        let resource = result.map_err(|code| {
            StreamsError::Kafka(format!("describing the configs of {topic} failed: {code}"))
        })?;
        for entry in resource.entries {
            if entry.source == ConfigSource::DynamicTopic
                && let Some(value) = entry.value
            {
                out.insert(entry.name, value);
            }
        }
    }
    Ok(out)
}
