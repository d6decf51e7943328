//! Topic names and the loading phase: creates every topic the workloads
//! read or write and fills the inputs, once per `scripts/bench.sh` run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::TopicPartitionList;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use streams::runtime::{TopicSpec, create_topics};

use crate::Args;

/// Size of the key space of the integer-keyed topics (SimpleBenchmark's
/// `KEY_SPACE_SIZE`).
pub const KEY_SPACE: u32 = 10_000;
/// Bytes of each value of the integer-keyed topics.
pub const VALUE_SIZE: usize = 100;
/// Yahoo: campaigns and ads per campaign (as YahooBenchmark).
const CAMPAIGNS: usize = 100;
const ADS_PER_CAMPAIGN: usize = 10;

/// The topics of one benchmark run, all named after its prefix.
pub struct Topics {
    /// N records, 4-byte big-endian int keys uniform over [`KEY_SPACE`],
    /// 100-byte values, timestamps one millisecond apart.
    pub input1: String,
    /// The same shape, other keys and values: the right side of joins.
    pub input2: String,
    /// Output of `consumeproduce` and `streamprocesswithsink`.
    pub sink: String,
    /// `adId -> "adId:campaignId"`, 1,000 ads.
    pub campaigns: String,
    /// N JSON view/click events keyed by ad id.
    pub events: String,
    /// Empty input of the restore application.
    pub restore_input: String,
    /// Application ids of the restore benchmark, one per implementation
    /// (Kafka Streams does not leave the group on close, so a shared id
    /// would make the second run wait out the first one's session); the
    /// store `store` restores from `<id>-store-changelog`, which `load`
    /// fills with the same records for both.
    pub restore_apps: [String; 2],
}

impl Topics {
    pub fn new(prefix: &str) -> Topics {
        Topics {
            input1: format!("{prefix}-input-1"),
            input2: format!("{prefix}-input-2"),
            sink: format!("{prefix}-sink"),
            campaigns: format!("{prefix}-yahoo-campaigns"),
            events: format!("{prefix}-yahoo-events"),
            restore_input: format!("{prefix}-restore-input"),
            restore_apps: [
                format!("{prefix}-restore-rust"),
                format!("{prefix}-restore-java"),
            ],
        }
    }

    pub fn restore_changelogs(&self) -> [String; 2] {
        self.restore_apps
            .clone()
            .map(|app| format!("{app}-store-changelog"))
    }
}

/// A small, fast, deterministic generator (xorshift64*): the data only
/// needs to be uniform and the same from run to run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
    fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Counts failed deliveries: a benchmark on half-loaded topics must fail.
#[derive(Default)]
struct Failures(Arc<AtomicU64>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && self.0.fetch_add(1, Ordering::Relaxed) == 0
        {
            eprintln!("e2e load: delivery failed: {e}");
        }
    }
}

struct Loader {
    producer: BaseProducer<Failures>,
    failures: Arc<AtomicU64>,
}

impl Loader {
    fn new(bootstrap: &str) -> Result<Loader, String> {
        let failures = Arc::new(AtomicU64::new(0));
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            // Java's partitioning, so both implementations see the same
            // keys on the same partitions.
            .set("partitioner", "murmur2_random")
            // Each partition must hold its records in timestamp order:
            // without idempotence a batch retried while the new topics'
            // leaders settle lands after later ones, and windowed
            // workloads then drop the early records as late.
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.kbytes", "262144")
            .create_with_context(Failures(failures.clone()))
            .map_err(|e| format!("creating the loading producer: {e}"))?;
        Ok(Loader { producer, failures })
    }

    fn send(&self, topic: &str, key: &[u8], value: &[u8], timestamp: i64) -> Result<(), String> {
        let mut record = BaseRecord::to(topic)
            .key(key)
            .payload(value)
            .timestamp(timestamp);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
            }
        }
    }

    fn finish(&self) -> Result<(), String> {
        self.producer
            .flush(Duration::from_secs(300))
            .map_err(|e| format!("flushing the loading producer: {e}"))?;
        match self.failures.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(format!("{n} records could not be delivered")),
        }
    }
}

/// A Yahoo event, as YahooBenchmark's `ProjectedEvent` serializes with
/// Jackson (public fields in declaration order).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default)]
pub struct ProjectedEvent {
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "adID")]
    pub ad_id: String,
    #[serde(rename = "eventTime")]
    pub event_time: i64,
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
    #[serde(rename = "pageID")]
    pub page_id: Option<String>,
    #[serde(rename = "addType")]
    pub add_type: Option<String>,
    #[serde(rename = "ipAddress")]
    pub ip_address: Option<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Makes the records of input-1, input-2, the campaigns and the events, in
/// that order, and hands each to `emit` (topic, key, value, timestamp);
/// returns the events' mean size (key and value). `load` sends them to the
/// broker; `e2e inprocess` feeds them to the tasks directly.
///
/// Record i of a topic is stamped `base + i` ms: event time runs at 1,000
/// records/s per topic, so each key recurs about every 10 s (10,000 keys)
/// and the stream-stream join window (10 s) matches about two records per
/// side.
pub fn generate(
    t: &Topics,
    n: u64,
    base: i64,
    mut emit: impl FnMut(&str, &[u8], &[u8], i64) -> Result<(), String>,
) -> Result<f64, String> {
    let mut value = vec![0u8; VALUE_SIZE];
    for (topic, seed) in [(&t.input1, 1u64), (&t.input2, 2)] {
        let mut rng = Rng::new(seed);
        for i in 0..n {
            let key = (rng.below(KEY_SPACE) as i32).to_be_bytes();
            rng.fill(&mut value);
            emit(topic, &key, &value, base + i as i64)?;
        }
    }

    // Yahoo: the campaigns table is stamped before every event, so the
    // timestamp-ordered join sees it complete.
    let mut rng = Rng::new(3);
    let mut ads = Vec::with_capacity(CAMPAIGNS * ADS_PER_CAMPAIGN);
    for _ in 0..CAMPAIGNS {
        let campaign = rng.uuid();
        for _ in 0..ADS_PER_CAMPAIGN {
            let ad = rng.uuid();
            let v = format!("{ad}:{campaign}");
            emit(&t.campaigns, ad.as_bytes(), v.as_bytes(), base - 1)?;
            ads.push(ad);
        }
    }
    let mut event_bytes = 0u64;
    let mut json = Vec::with_capacity(320);
    for i in 0..n {
        // As YahooBenchmark: eventTypes[nextInt(length - 1)], so views and
        // clicks only, half each.
        let event_type = if rng.below(2) == 0 { "view" } else { "click" };
        let ad = &ads[rng.below(ads.len() as u32) as usize];
        let ts = base + i as i64;
        let event = ProjectedEvent {
            event_type: event_type.into(),
            ad_id: ad.clone(),
            event_time: ts,
            user_id: Some(rng.uuid()),
            page_id: Some(rng.uuid()),
            add_type: Some("banner78".into()),
            ip_address: Some("1.2.3.4".into()),
        };
        json.clear();
        serde_json::to_writer(&mut json, &event).map_err(|e| e.to_string())?;
        event_bytes += (json.len() + ad.len()) as u64;
        emit(&t.events, ad.as_bytes(), &json, ts)?;
    }
    Ok(event_bytes as f64 / n as f64)
}

/// Creates and fills the topics; returns the manifest line.
/// On a fresh broker, the first transactional producer makes the broker
/// create its transaction-state topic (50 partitions) and the first
/// consumer group its offsets topic: half a second to a second that
/// whichever implementation ran first paid inside its timed run (its first
/// exactly-once run waited 0.5-1 s in `init_transactions`). Both are made
/// here, once, outside every run.
fn warm_up_coordinators(bootstrap: &str, prefix: &str, topic: &str) -> Result<(), String> {
    let timeout = Duration::from_secs(60);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", format!("{prefix}-warm-up"))
        .create()
        .map_err(|e| format!("creating the warm-up producer: {e}"))?;
    producer
        .init_transactions(timeout)
        .map_err(|e| format!("warming up the transaction coordinator: {e}"))?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{prefix}-warm-up"))
        .create()
        .map_err(|e| format!("creating the warm-up consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| format!("warming up the group coordinator: {e}"))?;
    Ok(())
}

pub fn load(args: &Args) -> Result<String, String> {
    let t = Topics::new(&args.prefix);
    let p = args.partitions;
    let started = Instant::now();
    create_topics(
        &args.bootstrap,
        &[
            TopicSpec::new(&t.input1, p),
            TopicSpec::new(&t.input2, p),
            TopicSpec::new(&t.sink, p),
            TopicSpec::new(&t.campaigns, p),
            TopicSpec::new(&t.events, p),
            TopicSpec::new(&t.restore_input, p),
            TopicSpec::new(&t.restore_changelogs()[0], p).with_config("cleanup.policy", "compact"),
            TopicSpec::new(&t.restore_changelogs()[1], p).with_config("cleanup.policy", "compact"),
        ],
    )
    .map_err(|e| format!("creating topics: {e}"))?;

    let n = args.records;
    // The data ends a minute ago (a broker's retention deletes records
    // stamped long ago, and rejects ones far in the future).
    let base = now_ms() - n as i64 - 60_000;
    let loader = Loader::new(&args.bootstrap)?;
    let mut sent = 0u64;
    let event_bytes = generate(&t, n, base, |topic, key, value, ts| {
        loader.send(topic, key, value, ts)?;
        sent += 1;
        if sent.is_multiple_of(100_000) {
            loader.producer.poll(Duration::ZERO);
        }
        Ok(())
    })?;

    // The restore benchmark's changelogs: restore_keys distinct keys.
    let mut value = vec![0u8; VALUE_SIZE];
    for changelog in t.restore_changelogs() {
        let mut rng = Rng::new(4);
        for k in 0..args.restore_keys {
            rng.fill(&mut value);
            loader.send(&changelog, &(k as i32).to_be_bytes(), &value, base)?;
        }
    }
    loader.finish()?;
    warm_up_coordinators(&args.bootstrap, &args.prefix, &t.input1)?;

    Ok(serde_json::json!({
        "prefix": args.prefix,
        "records": n,
        "partitions": p,
        "record_bytes": 4 + VALUE_SIZE,
        "yahoo_event_bytes": event_bytes,
        "restore_keys": args.restore_keys,
        "restore_record_bytes": 4 + VALUE_SIZE,
        "load_seconds": started.elapsed().as_secs_f64(),
    })
    .to_string())
}

/// `e2e drop`: deletes every topic named `<prefix>-...`, the inputs `load`
/// made and the internal and output topics of every run under that prefix
/// (application ids lead with it). A broker that serves many invocations
/// keeps them all otherwise: one that had gathered 17 GB of benchmark
/// topics ran the stateful workloads of both sides markedly slower than
/// after a restart (see `benches/README.md`).
pub fn drop_topics(args: &Args) -> Result<String, String> {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(30))
        .map_err(|e| format!("metadata: {e}"))?;
    let owned = format!("{}-", args.prefix);
    let names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|name| name.starts_with(&owned))
        .collect();
    if !names.is_empty() {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
        let results = futures::executor::block_on(admin.delete_topics(&names, &options))
            .map_err(|e| format!("delete topics: {e}"))?;
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(Result::err)
            // Gone already (a second `drop`, or a topic deleted meanwhile).
            .filter(|(_, code)| *code != RDKafkaErrorCode::UnknownTopicOrPartition)
            .map(|(topic, code)| format!("{topic}: {code}"))
            .collect();
        if !failed.is_empty() {
            return Err(format!("could not delete {}", failed.join(", ")));
        }
    }
    Ok(format!("{{\"dropped_topics\":{}}}", names.len()))
}
