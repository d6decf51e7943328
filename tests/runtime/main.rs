//! Integration tests of the Kafka runtime (`KafkaStreams`).
//!
//! Most run on an `EmbeddedKafka` (librdkafka's mock cluster, in this
//! process), one broker per test. Those in `real_broker` need a real Apache
//! Kafka broker: they read its address from `BOOTSTRAP_SERVERS` (which
//! `scripts/test.sh` sets after `scripts/kafka-broker.sh start`) and are
//! skipped, saying so, when it is unset.

mod config_errors;
mod dead_letter;
mod differential;
mod examples;
mod global;
mod headers;
mod offset_reset;
mod real_broker;
mod rebalance;
mod recovery;
mod restore;
mod shutdown_application;
mod state_dir;
mod states;
mod task_idle;
mod timestamps;
mod word_count;

mod log_capture;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder};
use streams::runtime::{
    EmbeddedKafka, KafkaRecord, KafkaStreams, State, TopicSpec, create_topics, produce, read_topic,
    wait_until_processed,
};
use streams::serde::Serdes;
use streams::topology::Topology;

/// A cluster to run against: an embedded broker, or the real one named by
/// `BOOTSTRAP_SERVERS`.
pub struct Cluster {
    _embedded: Option<EmbeddedKafka>,
    pub bootstrap: String,
    pub real: bool,
}

impl Cluster {
    pub fn embedded() -> Cluster {
        log_capture::install();
        let e = EmbeddedKafka::start().expect("embedded broker");
        Cluster {
            bootstrap: e.bootstrap_servers().to_string(),
            _embedded: Some(e),
            real: false,
        }
    }

    /// The real broker, or `None` (after printing why the test is skipped).
    pub fn real(test: &str) -> Option<Cluster> {
        log_capture::install();
        match std::env::var("BOOTSTRAP_SERVERS") {
            Ok(b) if !b.trim().is_empty() => Some(Cluster {
                _embedded: None,
                bootstrap: b,
                real: true,
            }),
            _ => {
                eprintln!(
                    "SKIPPED {test}: BOOTSTRAP_SERVERS is not set (start a broker with scripts/kafka-broker.sh start and export its address, as scripts/test.sh does)"
                );
                None
            }
        }
    }

    /// The embedded broker, when the cluster is one.
    pub fn embedded_broker(&self) -> Option<&EmbeddedKafka> {
        self._embedded.as_ref()
    }

    pub fn create(&self, topics: &[(&str, i32)]) {
        let specs: Vec<TopicSpec> = topics.iter().map(|(t, p)| TopicSpec::new(*t, *p)).collect();
        create_topics(&self.bootstrap, &specs).expect("create topics");
    }
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!(
        "{prefix}-{}-{millis}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A base for record timestamps: the time the tests started. Records must
/// carry recent timestamps on a real broker, whose time-based retention
/// deletes records stamped decades ago.
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    })
}

/// A record with string key and value, stamped `ts` ms after [`t0`].
pub fn kv(k: &str, v: &str, ts: i64) -> KafkaRecord {
    KafkaRecord::new(
        Some(k.as_bytes().to_vec()),
        Some(v.as_bytes().to_vec()),
        t0() + ts,
    )
}

/// A fresh state directory, deleted when dropped.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Settings that keep tests fast: frequent commits, short polls, and
/// members that hear of a rebalance quickly (their heartbeats tell them).
///
/// The session timeout differs by cluster:
/// * real broker: Kafka's default, 45 s. Members that stop send a
///   LeaveGroup, so no test waits for it; a short one (6 s) got members
///   expelled whenever the loaded machine stalled the broker's JVM that
///   long, and an expelled member's uncommitted records are processed
///   again (at-least-once), which broke tests pinning exact output: a
///   second dead-letter record, duplicate counts.
/// * embedded mock: 6 s. After a member leaves, the mock holds the next
///   join for the session timeout less one second (its stand-in for the
///   rebalance timeout), so every restart in a group would wait 44 s.
pub fn config(cluster: &Cluster, app: &str, state_dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new()
        .set("application.id", app)
        .set("bootstrap.servers", &cluster.bootstrap)
        .set("state.dir", state_dir.display().to_string())
        .set("commit.interval.ms", "100")
        .set("poll.ms", "20")
        .set("default.api.timeout.ms", "30000")
        .set(
            "consumer.session.timeout.ms",
            if cluster.real { "45000" } else { "6000" },
        )
        .set("consumer.heartbeat.interval.ms", "500")
        .set("producer.linger.ms", "5")
}

pub fn word_count_topology(input: &str, output: &str, store: StoreType) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line| {
            line.map(|l| {
                l.to_lowercase()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        })
        .group_by(
            |_key, word| word.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts-store").with_store_type(store))
        .to_stream()
        .to(output, Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().unwrap()
}

/// Lines of text as null-keyed records with timestamps `t0, t0+1, ...`.
pub fn lines(texts: &[&str], t0: i64) -> Vec<KafkaRecord> {
    texts
        .iter()
        .enumerate()
        .map(|(i, l)| KafkaRecord::new(None, Some(l.as_bytes().to_vec()), t0 + i as i64))
        .collect()
}

/// Word counts of `texts`.
pub fn expected_counts(texts: &[&str]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for t in texts {
        for w in t.to_lowercase().split_whitespace() {
            *m.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    m
}

pub fn i64_of(bytes: Option<&[u8]>) -> i64 {
    i64::from_be_bytes(bytes.expect("a value").try_into().expect("8 bytes"))
}

/// Every `(key, count)` record of a word-count output, per key in offset
/// order.
pub fn count_updates(
    cluster: &Cluster,
    topic: &str,
    read_committed: bool,
) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut m: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for r in read_topic(&cluster.bootstrap, topic, read_committed).unwrap() {
        m.entry(r.key_str().unwrap().to_string())
            .or_default()
            .push((i64_of(r.value.as_deref()), r.timestamp));
    }
    m
}

/// The counts of a count's output, per key in offset order.
pub fn counts_per_key(
    cluster: &Cluster,
    topic: &str,
    read_committed: bool,
) -> BTreeMap<String, Vec<i64>> {
    count_updates(cluster, topic, read_committed)
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|(c, _)| c).collect()))
        .collect()
}

/// The input of the exactly-once count tests: records `v<i>` keyed
/// `k<i % keys>` and stamped `t0 + i`, handed out in slices, with the count
/// each key has reached.
pub struct KeyedInput {
    keys: usize,
    produced: usize,
    counts: BTreeMap<String, i64>,
}

impl KeyedInput {
    pub fn new(keys: usize) -> Self {
        KeyedInput {
            keys,
            produced: 0,
            counts: BTreeMap::new(),
        }
    }

    /// Records handed out so far.
    pub fn produced(&self) -> usize {
        self.produced
    }

    /// The next `size` records.
    pub fn next_slice(&mut self, size: usize) -> Vec<KafkaRecord> {
        let slice = (self.produced..self.produced + size)
            .map(|i| {
                let key = format!("k{}", i % self.keys);
                *self.counts.entry(key.clone()).or_insert(0) += 1;
                KafkaRecord::new(
                    Some(key.into_bytes()),
                    Some(format!("v{i}").into_bytes()),
                    t0() + i as i64,
                )
            })
            .collect();
        self.produced += size;
        slice
    }

    /// Every count 1..=n of every key, in order: what an uncached count
    /// emits for this input, each update exactly once.
    pub fn every_count(&self) -> BTreeMap<String, Vec<i64>> {
        self.counts
            .iter()
            .map(|(k, n)| (k.clone(), (1..=*n).collect()))
            .collect()
    }
}

/// The last count of each word.
pub fn final_counts(cluster: &Cluster, topic: &str) -> BTreeMap<String, i64> {
    count_updates(cluster, topic, false)
        .into_iter()
        .map(|(k, v)| (k, v.last().unwrap().0))
        .collect()
}

pub fn start(topology: Topology, config: StreamsConfig) -> KafkaStreams {
    let mut streams = KafkaStreams::new(topology, config);
    streams.start().expect("start");
    streams
}

pub fn wait_running(streams: &KafkaStreams) {
    if !streams.wait_for_state(State::Running, Duration::from_secs(120)) {
        log_capture::dump("StreamThread");
        panic!(
            "not RUNNING after 120 s (state {:?}); the stream threads' log is above",
            streams.state()
        );
    }
}

pub fn wait_processed(cluster: &Cluster, app: &str, topics: &[&str]) {
    if !wait_until_processed(&cluster.bootstrap, app, topics, Duration::from_secs(120)).unwrap() {
        log_capture::dump(app);
        panic!("input not processed within 120 s; the application's log is above");
    }
}

pub fn close(mut streams: KafkaStreams) {
    assert!(streams.close(Duration::from_secs(60)), "close timed out");
    assert_eq!(streams.state(), State::NotRunning);
}

/// Waits until `f` holds (polling), failing after `timeout`.
pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn produce_lines(cluster: &Cluster, topic: &str, texts: &[&str], t0: i64) {
    produce(&cluster.bootstrap, topic, &lines(texts, t0)).unwrap();
}

pub fn task_dirs(state: &std::path::Path, app: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join(app))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
