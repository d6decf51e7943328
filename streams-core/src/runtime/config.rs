//! The runtime's view of [`StreamsConfig`]: every value parsed and checked
//! once at start, and the configurations of the Kafka clients derived from
//! it, with the settings Kafka Streams forces on its clients.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::errors::{RuntimeError, RuntimeResult};
use crate::config::{
    ADMIN_PREFIX, CONSUMER_PREFIX, PRODUCER_PREFIX, ProcessingGuarantee, StreamsConfig,
};
use crate::task::DeserializationHandler;

/// Which consumer of a stream thread a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerRole {
    /// The group member that reads the source topics.
    Main,
    /// The assign-mode consumer that reads changelogs into stores.
    Restore,
    /// The assign-mode consumer that reads the global topics.
    Global,
}

/// Parsed configuration, shared by every thread of an instance.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeConfig {
    pub(crate) application_id: Arc<str>,
    pub(crate) bootstrap: String,
    pub(crate) num_threads: usize,
    pub(crate) commit_interval: Duration,
    pub(crate) guarantee: ProcessingGuarantee,
    /// `<state.dir>/<application.id>`.
    pub(crate) app_state_dir: PathBuf,
    pub(crate) cache_max_bytes: usize,
    pub(crate) deserialization_handler: DeserializationHandler,
    /// `default.timestamp.extractor`.
    pub(crate) timestamp_extractor: crate::processor::timestamp_extractor::DefaultExtractor,
    /// `processing.exception.handler` is `LogAndContinue`.
    pub(crate) continue_on_processing_error: bool,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) replication_factor: i32,
    pub(crate) max_task_idle_ms: i64,
    pub(crate) buffered_records: usize,
    pub(crate) poll: Duration,
    pub(crate) cleanup_delay: Duration,
    pub(crate) api_timeout: Duration,
    pub(crate) task_timeout: Duration,
    pub(crate) client_id: String,
    pub(crate) process_id: String,
    pub(crate) source: StreamsConfig,
}

impl RuntimeConfig {
    /// Parses and checks `config`; every error names the key and the fix.
    pub(crate) fn new(config: &StreamsConfig) -> RuntimeResult<Self> {
        cfg(config.validate())?;
        for key in config.ignored_keys() {
            log::warn!("'{key}' is a setting of Java Kafka Streams that has no effect here");
        }
        let application_id: Arc<str> = cfg(config.application_id())?.trim().into();
        let guarantee = cfg(config.processing_guarantee())?;
        let standby = cfg(config.num_standby_replicas())?;
        if standby > 0 {
            log::warn!(
                "num.standby.replicas={standby}: standby tasks are not implemented; tasks restore from their changelogs when they move"
            );
        }
        let process_id = new_process_id();
        let client_id = config
            .get(crate::config::CLIENT_ID)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{application_id}-{process_id}"));
        let runtime = RuntimeConfig {
            bootstrap: cfg(config.bootstrap_servers())?.trim().to_string(),
            num_threads: cfg(config.num_stream_threads())?,
            commit_interval: Duration::from_millis(cfg(config.commit_interval_ms())?),
            guarantee,
            app_state_dir: config.state_dir().join(&*application_id),
            cache_max_bytes: cfg(config.cache_max_bytes())?,
            deserialization_handler: cfg(config.deserialization_handler())?,
            timestamp_extractor: cfg(config.default_timestamp_extractor())?,
            continue_on_processing_error: cfg(config.continue_on_processing_error())?,
            dead_letter_topic: config.dead_letter_queue_topic().map(str::to_string),
            replication_factor: cfg(config.replication_factor())?,
            max_task_idle_ms: cfg(config.max_task_idle_ms())?,
            buffered_records: cfg(config.buffered_records_per_partition())?,
            poll: Duration::from_millis(cfg(config.poll_ms())?),
            cleanup_delay: Duration::from_millis(cfg(config.state_cleanup_delay_ms())?),
            api_timeout: Duration::from_millis(cfg(config.default_api_timeout_ms())?),
            task_timeout: Duration::from_millis(cfg(config.task_timeout_ms())?),
            client_id,
            process_id,
            application_id,
            source: config.clone(),
        };
        // Building each client configuration once here surfaces a bad
        // pass-through key at start rather than in a thread.
        runtime
            .consumer_config(1, ConsumerRole::Main)
            .create_native_config()
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "a consumer setting is rejected by the Kafka client: {e}: fix or remove it"
                ))
            })?;
        runtime
            .producer_config(1)
            .create_native_config()
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "a producer setting is rejected by the Kafka client: {e}: fix or remove it"
                ))
            })?;
        runtime.admin_config().create_native_config().map_err(|e| {
            RuntimeError::Config(format!(
                "an admin client setting is rejected by the Kafka client: {e}: fix or remove it"
            ))
        })?;
        Ok(runtime)
    }

    pub(crate) fn exactly_once(&self) -> bool {
        self.guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    fn base(&self, prefix: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in self.source.client_properties(prefix) {
            c.set(k, v);
        }
        // librdkafka (2.10+) drops its bootstrap connection once the first
        // metadata response names the brokers, and fails the requests in
        // flight on it (the coordinator lookup, the application's first
        // metadata read). Their retry waits until it may open another
        // connection: `reconnect.backoff.ms` / 2, at least 11 ms. With the
        // default (100 ms) every start paid that 50 ms two or three times
        // over, in the consumer's group join and in the first metadata
        // read (measured: first record 0.13-0.16 s after the start, 0.05-
        // 0.10 s with this). A broker that is down is still retried with a
        // backoff that doubles up to `reconnect.backoff.max.ms`.
        set_default(&mut c, "reconnect.backoff.ms", "20");
        c
    }

    /// A consumer of stream thread `thread` (numbered from 1, as Kafka
    /// Streams numbers them).
    pub(crate) fn consumer_config(&self, thread: usize, role: ConsumerRole) -> ClientConfig {
        let mut c = self.base(CONSUMER_PREFIX);
        let role_prefix = match role {
            ConsumerRole::Main => "main.consumer.",
            ConsumerRole::Restore => "restore.consumer.",
            ConsumerRole::Global => "global.consumer.",
        };
        for (k, v) in self.source.iter() {
            if let Some(stripped) = k.strip_prefix(role_prefix) {
                c.set(stripped, v);
            }
        }
        let client_id = match role {
            ConsumerRole::Main => format!("{}-StreamThread-{thread}-consumer", self.client_id),
            ConsumerRole::Restore => {
                format!("{}-StreamThread-{thread}-restore-consumer", self.client_id)
            }
            ConsumerRole::Global => {
                format!("{}-StreamThread-{thread}-global-consumer", self.client_id)
            }
        };
        c.set("client.id", client_id);
        // Kafka Streams' own defaults, which the user may override...
        set_default(&mut c, "auto.offset.reset", "earliest");
        // librdkafka (2.4+) stops fetching a partition for
        // fetch.queue.backoff.ms (1 s by default) whenever its prefetch
        // queue is over its limits; a stream thread drains that queue in
        // bursts, so with the default it sat idle in most polls (measured:
        // streamprocess 138k -> 510k records/s with 1 ms, memory unchanged).
        // The Java consumer has no such pause.
        set_default(&mut c, "fetch.queue.backoff.ms", "1");
        // ...and the settings it forces: offsets are committed by the
        // runtime after the output is flushed, never automatically.
        c.set("enable.auto.commit", "false");
        c.set("enable.auto.offset.store", "false");
        c.set(
            "isolation.level",
            if self.exactly_once() {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        );
        match role {
            ConsumerRole::Main => {
                c.set("group.id", &*self.application_id);
                // Static membership: each thread is its own member.
                if let Some(instance) = c.get("group.instance.id").map(str::to_string) {
                    c.set("group.instance.id", format!("{instance}-{thread}"));
                }
                // Range assignment gives each member the same partition
                // numbers of every co-partitioned topic, so a task's inputs
                // stay together.
                c.set("partition.assignment.strategy", "range");
                c.set("enable.partition.eof", "false");
                // librdkafka prefetches up to 100,000 records per partition
                // (within 64 MiB): with a stream thread's own queues and
                // buffers on top, that working set cost speed and memory.
                // Measured in alternating pairs: sink +8 % (803k-807k ->
                // 870k-873k records/s), table-table join +10 %, peak RSS
                // 103 -> 61-69 MiB and 145 -> 104 MiB, the windowed count
                // unchanged; the raw consumer's rate did not move with it.
                // The Java consumer holds one fetch per partition.
                set_default(&mut c, "queued.min.messages", "20000");
            }
            ConsumerRole::Restore | ConsumerRole::Global => {
                // Restoration is done when the position reaches the end
                // offset read at its start (see restore.rs).
                c.set("enable.partition.eof", "false");
                // librdkafka needs a group id to assign partitions; this
                // consumer never joins it nor commits to it.
                let kind = if role == ConsumerRole::Global {
                    "global"
                } else {
                    "restore"
                };
                c.set(
                    "group.id",
                    format!("{}-{kind}-consumer", self.application_id),
                );
                c.remove("group.instance.id");
            }
        }
        c
    }

    /// The producer of stream thread `thread`.
    pub(crate) fn producer_config(&self, thread: usize) -> ClientConfig {
        let mut c = self.base(PRODUCER_PREFIX);
        c.set(
            "client.id",
            format!("{}-StreamThread-{thread}-producer", self.client_id),
        );
        set_default(&mut c, "linger.ms", "100");
        // Java's default partitioning: murmur2 of the key bytes, so keys land
        // on the partitions Java clients put them on.
        set_default(&mut c, "partitioner", "murmur2_random");
        // The Java producer is idempotent by default (and so Kafka Streams'
        // at-least-once producer): a retried send is neither duplicated nor
        // reordered.
        set_default(&mut c, "enable.idempotence", "true");
        if self.exactly_once() {
            c.set(
                "transactional.id",
                format!("{}-{}-{thread}", self.application_id, self.process_id),
            );
            c.set("enable.idempotence", "true");
            set_default(&mut c, "transaction.timeout.ms", "10000");
            // librdkafka connects to a broker only when it first needs it;
            // `init_transactions` then found the coordinator before its
            // connection was up and waited out a fixed 500 ms retry timer,
            // in half of the starts measured (0.5 s of an exactly-once
            // start, 5-15 ms with this). Connecting to the brokers it
            // learns of at once avoids that (one connection per broker,
            // which a transactional producer writing to many partitions
            // ends up with anyway).
            set_default(&mut c, "enable.sparse.connections", "false");
        }
        c
    }

    /// The admin client (internal topics).
    pub(crate) fn admin_config(&self) -> ClientConfig {
        let mut c = self.base(ADMIN_PREFIX);
        c.set("client.id", format!("{}-admin", self.client_id));
        c
    }
}

fn cfg<T>(r: Result<T, crate::error::StreamsError>) -> RuntimeResult<T> {
    r.map_err(|e| match e {
        crate::error::StreamsError::Config(m) => RuntimeError::Config(m),
        other => RuntimeError::Config(other.to_string()),
    })
}

fn set_default(c: &mut ClientConfig, key: &str, value: &str) {
    if c.get(key).is_none() {
        c.set(key, value);
    }
}

impl RuntimeConfig {
    /// Adopts `id` as the process id (one kept in the state directory); a
    /// `client.id` derived from the old one follows.
    pub(crate) fn set_process_id(&mut self, id: String) {
        let derived = format!("{}-{}", self.application_id, self.process_id);
        if self.client_id == derived {
            self.client_id = format!("{}-{id}", self.application_id);
        }
        self.process_id = id;
    }
}

/// A random id for this instance (Kafka Streams' process id), formatted as
/// a UUID.
pub(crate) fn new_process_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.write_usize(i);
        *w = h.finish();
    }
    let b = ((words[0] as u128) << 64) | words[1] as u128;
    let hex = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn props(c: &ClientConfig) -> BTreeMap<String, String> {
        c.config_map()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Unprefixed unknown keys go to every client; `consumer.`,
    /// `producer.` and `admin.` keys to that client only, overriding the
    /// unprefixed value; `main.consumer.` / `restore.consumer.` to that
    /// consumer; Kafka Streams' own keys to none; and the settings the
    /// runtime forces win over the user's.
    #[test]
    fn client_configs_pass_librdkafka_keys_through_by_prefix() {
        let config = StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "b:9092")
            .set("client.id", "cid")
            .set("num.stream.threads", "2")
            .set("socket.keepalive.enable", "true")
            .set("session.timeout.ms", "10000")
            .set("consumer.session.timeout.ms", "7000")
            .set("consumer.enable.auto.commit", "true")
            .set("main.consumer.fetch.wait.max.ms", "50")
            .set("restore.consumer.fetch.wait.max.ms", "20")
            .set("producer.linger.ms", "7")
            .set("admin.request.timeout.ms", "9000")
            .set("consumer.group.instance.id", "node-a");
        let cfg = RuntimeConfig::new(&config).unwrap();
        assert_eq!(
            props(&cfg.consumer_config(2, ConsumerRole::Main)),
            owned(&[
                ("auto.offset.reset", "earliest"),
                ("bootstrap.servers", "b:9092"),
                ("client.id", "cid-StreamThread-2-consumer"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("fetch.queue.backoff.ms", "1"),
                ("fetch.wait.max.ms", "50"),
                ("group.id", "app"),
                ("group.instance.id", "node-a-2"),
                ("isolation.level", "read_uncommitted"),
                ("partition.assignment.strategy", "range"),
                ("queued.min.messages", "20000"),
                ("reconnect.backoff.ms", "20"),
                ("session.timeout.ms", "7000"),
                ("socket.keepalive.enable", "true"),
            ])
        );
        // The prefetch depth is a default the application may change.
        let own = RuntimeConfig::new(
            &config
                .clone()
                .set("main.consumer.queued.min.messages", "5000"),
        )
        .unwrap();
        assert_eq!(
            own.consumer_config(1, ConsumerRole::Main)
                .get("queued.min.messages"),
            Some("5000")
        );
        assert_eq!(
            props(&cfg.consumer_config(1, ConsumerRole::Restore)),
            owned(&[
                ("auto.offset.reset", "earliest"),
                ("bootstrap.servers", "b:9092"),
                ("client.id", "cid-StreamThread-1-restore-consumer"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("fetch.queue.backoff.ms", "1"),
                ("fetch.wait.max.ms", "20"),
                ("group.id", "app-restore-consumer"),
                ("isolation.level", "read_uncommitted"),
                ("reconnect.backoff.ms", "20"),
                ("session.timeout.ms", "7000"),
                ("socket.keepalive.enable", "true"),
            ])
        );
        assert_eq!(
            props(&cfg.producer_config(1)),
            owned(&[
                ("bootstrap.servers", "b:9092"),
                ("client.id", "cid-StreamThread-1-producer"),
                ("enable.idempotence", "true"),
                ("linger.ms", "7"),
                ("partitioner", "murmur2_random"),
                ("reconnect.backoff.ms", "20"),
                ("session.timeout.ms", "10000"),
                ("socket.keepalive.enable", "true"),
            ])
        );
        assert_eq!(
            props(&cfg.admin_config()),
            owned(&[
                ("bootstrap.servers", "b:9092"),
                ("client.id", "cid-admin"),
                ("reconnect.backoff.ms", "20"),
                ("request.timeout.ms", "9000"),
                ("session.timeout.ms", "10000"),
                ("socket.keepalive.enable", "true"),
            ])
        );
    }

    /// Exactly-once: a transactional producer per thread, named after the
    /// application, this process and the thread, and read_committed inputs.
    #[test]
    fn exactly_once_makes_producers_transactional() {
        let config = StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "b:9092")
            .set("processing.guarantee", "exactly_once_v2");
        let cfg = RuntimeConfig::new(&config).unwrap();
        assert_eq!(cfg.commit_interval, Duration::from_millis(100));
        let producer = props(&cfg.producer_config(3));
        assert_eq!(
            producer.get("transactional.id"),
            Some(&format!("app-{}-3", cfg.process_id))
        );
        assert_eq!(producer["enable.idempotence"], "true");
        assert_eq!(producer["transaction.timeout.ms"], "10000");
        assert_eq!(producer["enable.sparse.connections"], "false");
        assert_eq!(
            props(&cfg.consumer_config(1, ConsumerRole::Main))["isolation.level"],
            "read_committed"
        );
        assert_eq!(
            props(&cfg.consumer_config(1, ConsumerRole::Restore))["isolation.level"],
            "read_committed"
        );
    }

    #[test]
    fn a_rejected_client_setting_fails_naming_it() {
        for (key, expected) in [
            ("producer.linger.ms", "linger.ms"),
            ("admin.no.such.setting", "no.such.setting"),
            ("consumer.no.such.setting", "no.such.setting"),
            ("no.such.setting", "no.such.setting"),
        ] {
            let config = StreamsConfig::new()
                .set("application.id", "app")
                .set("bootstrap.servers", "b:9092")
                .set(key, "soon");
            let err = RuntimeConfig::new(&config).unwrap_err().to_string();
            assert!(err.contains(expected), "{key}: {err}");
            assert!(err.contains("fix or remove it"), "{key}: {err}");
        }
    }
}
