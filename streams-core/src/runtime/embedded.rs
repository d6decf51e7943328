//! [`EmbeddedKafka`]: librdkafka's mock cluster, in this process, as a
//! broker for examples and tests.
//!
//! See [`EmbeddedKafka`] for what it is and is not.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::mocking::MockCluster;

use super::errors::{RuntimeError, RuntimeResult};
use crate::error::StreamsError;

enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: Sender<RuntimeResult<()>>,
    },
    #[cfg(feature = "fault-injection")]
    SetTopicAvailable {
        topic: String,
        available: bool,
        reply: Sender<RuntimeResult<()>>,
    },
    #[cfg(feature = "fault-injection")]
    FailListOffsets {
        count: usize,
        reply: Sender<RuntimeResult<()>>,
    },
    Stop,
}

/// The embedded brokers of this process, by bootstrap address, so that the
/// runtime creates internal topics through the mock API when it runs on one.
fn registry() -> &'static Mutex<HashMap<String, Sender<Command>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Sender<Command>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Creates `name` on the embedded broker of this process listening at
/// `bootstrap`; `None` when `bootstrap` is not such a broker.
pub(crate) fn create_topic_if_embedded(
    bootstrap: &str,
    name: &str,
    partitions: i32,
) -> Option<RuntimeResult<()>> {
    let sender = registry().lock().ok()?.get(bootstrap.trim())?.clone();
    Some(send_create(&sender, name, partitions))
}

/// Whether `bootstrap` is an embedded broker of this process.
pub(crate) fn is_embedded(bootstrap: &str) -> bool {
    registry()
        .lock()
        .map(|r| r.contains_key(bootstrap.trim()))
        .unwrap_or(false)
}

fn send_create(sender: &Sender<Command>, name: &str, partitions: i32) -> RuntimeResult<()> {
    let (reply, answer) = mpsc::channel();
    sender
        .send(Command::CreateTopic {
            name: name.to_string(),
            partitions,
            reply,
        })
        .map_err(|_| RuntimeError::IllegalState("the embedded Kafka broker has stopped".into()))?;
    answer.recv_timeout(Duration::from_secs(30)).map_err(|_| {
        RuntimeError::IllegalState("the embedded Kafka broker did not answer".into())
    })?
}

/// A Kafka-protocol broker inside this process (librdkafka's mock cluster,
/// one broker, on loopback), for examples and tests.
///
/// # What it is and is not
///
/// The mock cluster speaks the Kafka protocol on loopback ports: producers,
/// consumers, consumer groups (with client-side assignors such as `range`),
/// offset commits and the transactional producer API all work against it.
/// It is **not** a Kafka broker:
///
/// * **Retention.** Each partition keeps at most 100,000 messages or 5 MB,
///   whichever comes first, and silently drops its oldest messages beyond
///   that. Nothing is written to disk, and everything is gone when the
///   `EmbeddedKafka` is dropped. Size test data well under the limit (a
///   changelog that loses its head restores to a wrong state) and never use
///   it as storage.
/// * **No compaction**: compacted topics keep every record.
/// * **No admin API**: `CreateTopics` and `DescribeConfigs` time out, so
///   topics are created through the mock's own API
///   ([`create_topic`](EmbeddedKafka::create_topic)); the runtime does this
///   by itself for the internal topics of an application whose
///   `bootstrap.servers` is an embedded broker of this process.
/// * **Transactions are accepted, not enforced**: measured on librdkafka
///   2.12, a `read_committed` consumer still sees records of aborted
///   transactions and `send_offsets_to_transaction` stores no offsets. An
///   exactly-once application runs on it, but exactly-once is only proven on
///   a real broker.
/// * **Slow group joins**: the first member of a group waits 3 s before
///   its assignment (the mock's `group.initial.rebalance.delay.ms`), and
///   after a member leaves, the next join waits `session.timeout.ms` less
///   one second (the mock's stand-in for the rebalance timeout): keep
///   `consumer.session.timeout.ms` short (6 s, say) on it.
/// * **No static membership**: a member with a `group.instance.id` that
///   leaves and comes back makes the group rebalance, as a dynamic member
///   does.
/// * Topics a producer writes to that do not exist are created with 4
///   partitions (the mock's default).
///
/// ```
/// use streams_core::runtime::EmbeddedKafka;
/// let kafka = EmbeddedKafka::start().unwrap();
/// kafka.create_topic("input", 2).unwrap();
/// assert!(kafka.bootstrap_servers().starts_with("127.0.0.1:"));
/// ```
pub struct EmbeddedKafka {
    bootstrap: String,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl EmbeddedKafka {
    /// Starts a one-broker mock cluster on a free loopback port.
    pub fn start() -> Result<Self, StreamsError> {
        let (ready_tx, ready_rx) = mpsc::channel::<RuntimeResult<String>>();
        let (commands, inbox) = mpsc::channel::<Command>();
        // The mock cluster handle is not `Send`: a thread owns it for its
        // whole life and serves topic creation requests.
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(RuntimeError::client(
                            "starting the embedded Kafka broker",
                            e,
                        )));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                while let Ok(command) = inbox.recv() {
                    match command {
                        Command::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let result = cluster.create_topic(&name, partitions, 1).map_err(|e| {
                                RuntimeError::client(
                                    format!("creating topic '{name}' on the embedded broker"),
                                    e,
                                )
                            });
                            let _ = reply.send(result);
                        }
                        #[cfg(feature = "fault-injection")]
                        Command::SetTopicAvailable {
                            topic,
                            available,
                            reply,
                        } => {
                            use rdkafka::types::RDKafkaRespErr as E;
                            let error = if available {
                                E::RD_KAFKA_RESP_ERR_NO_ERROR
                            } else {
                                E::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE
                            };
                            let result = cluster.topic_error(&topic, error).map_err(|e| {
                                RuntimeError::client(
                                    format!("setting the availability of '{topic}'"),
                                    e,
                                )
                            });
                            let _ = reply.send(result);
                        }
                        #[cfg(feature = "fault-injection")]
                        Command::FailListOffsets { count, reply } => {
                            use rdkafka::types::RDKafkaApiKey;
                            use rdkafka::types::RDKafkaRespErr as E;
                            let errors = vec![E::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; count];
                            cluster.request_errors(RDKafkaApiKey::ListOffsets, &errors);
                            let _ = reply.send(Ok(()));
                        }
                        Command::Stop => break,
                    }
                }
                drop(cluster);
            })
            .map_err(|e| {
                StreamsError::Kafka(format!(
                    "cannot start the embedded Kafka broker thread: {e}"
                ))
            })?;
        let bootstrap = ready_rx.recv().map_err(|_| {
            StreamsError::Kafka("the embedded Kafka broker failed to start".into())
        })??;
        if let Ok(mut r) = registry().lock() {
            r.insert(bootstrap.clone(), commands.clone());
        }
        log::info!("embedded Kafka broker (librdkafka mock cluster) listening at {bootstrap}");
        Ok(EmbeddedKafka {
            bootstrap,
            commands,
            thread: Some(thread),
        })
    }

    /// The address clients connect to (`127.0.0.1:<port>`).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `name` with `partitions` partitions (replication 1). Creating
    /// a topic that exists with the same partition count succeeds.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), StreamsError> {
        if partitions < 1 {
            return Err(StreamsError::Config(format!(
                "topic '{name}' needs at least 1 partition, not {partitions}"
            )));
        }
        Ok(send_create(&self.commands, name, partitions)?)
    }
}

#[cfg(feature = "fault-injection")]
impl EmbeddedKafka {
    /// Makes `topic` unavailable (its metadata answers
    /// `LEADER_NOT_AVAILABLE`) or available again, for tests of what
    /// clients do meanwhile: a producer that has not written to the topic
    /// yet holds its records until `delivery.timeout.ms` expires. (Taking a
    /// partition's leader away instead crashes librdkafka 2.12's mock on
    /// the next produce request.) Feature `fault-injection`.
    ///
    /// ```
    /// use streams_core::runtime::EmbeddedKafka;
    /// let kafka = EmbeddedKafka::start().unwrap();
    /// kafka.create_topic("out", 1).unwrap();
    /// kafka.set_topic_available("out", false).unwrap();
    /// kafka.set_topic_available("out", true).unwrap();
    /// ```
    pub fn set_topic_available(&self, topic: &str, available: bool) -> Result<(), StreamsError> {
        self.ask(|reply| Command::SetTopicAvailable {
            topic: topic.to_string(),
            available,
            reply,
        })
    }

    /// Makes the next `count` offset lookups (`ListOffsets` requests:
    /// watermark queries, offset resets) answer `NOT_LEADER_OR_FOLLOWER`,
    /// whoever sends them, as a real broker does for a partition whose
    /// leader is not elected yet (a topic created a moment ago) or moves.
    /// Feature `fault-injection`.
    ///
    /// ```
    /// use streams_core::runtime::EmbeddedKafka;
    /// let kafka = EmbeddedKafka::start().unwrap();
    /// kafka.fail_next_list_offsets(3).unwrap();
    /// ```
    pub fn fail_next_list_offsets(&self, count: usize) -> Result<(), StreamsError> {
        self.ask(|reply| Command::FailListOffsets { count, reply })
    }

    /// Sends the broker thread a command and waits for its answer.
    fn ask(
        &self,
        command: impl FnOnce(Sender<RuntimeResult<()>>) -> Command,
    ) -> Result<(), StreamsError> {
        let (reply, answer) = mpsc::channel();
        self.commands.send(command(reply)).map_err(|_| {
            RuntimeError::IllegalState("the embedded Kafka broker has stopped".into())
        })?;
        Ok(answer.recv_timeout(Duration::from_secs(30)).map_err(|_| {
            RuntimeError::IllegalState("the embedded Kafka broker did not answer".into())
        })??)
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        if let Ok(mut r) = registry().lock() {
            r.remove(&self.bootstrap);
        }
        super::tools::forget_producer(&self.bootstrap);
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
