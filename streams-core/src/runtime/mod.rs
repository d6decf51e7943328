//! Running topologies on Kafka.
//!
//! [`KafkaStreams`] runs a [`Topology`](crate::topology::Topology) on a
//! cluster the way Kafka Streams does, with the same code the
//! `TopologyTestDriver` runs (each task is the same `StreamTask`):
//!
//! * **Tasks and threads.** A task is (sub-topology, partition). Each of
//!   the `num.stream.threads` threads is a member of the consumer group
//!   `application.id` with `range` assignment, so co-partitioned topics are
//!   assigned together, and owns a producer (`partitioner=murmur2_random`,
//!   the Java client's partitioning) and a restore consumer.
//! * **Internal topics.** Repartition topics
//!   (`<application.id>-<name>-repartition`) and changelog topics
//!   (`<application.id>-<store>-changelog`, compacted) are created before
//!   processing starts and checked when they exist (see
//!   [`create_topics`] for the application's own topics), with
//!   `<application.id>-shutdown-requests` (one partition), through which
//!   an instance asks every other to stop (see
//!   [`StreamsUncaughtExceptionResponse::ShutdownApplication`]).
//! * **State.** Each task keeps its stores under
//!   `<state.dir>/<application.id>/<task>/`, locked while in use; changes go
//!   to the changelogs; a `.checkpoint` file records the changelog offsets
//!   the stores hold, so that a restart or a move restores only what is
//!   missing, in batches, with progress logged and reported to a
//!   [`StateRestoreListener`]. Directories of tasks nobody owns are deleted
//!   after `state.cleanup.delay.ms`.
//! * **Guarantees.** `at_least_once`: a commit forwards and flushes caches,
//!   flushes the producer and commits the input offsets; every 10,000
//!   changelog records it also flushes RocksDB to disk and writes the
//!   checkpoints (as Kafka Streams does: a checkpoint costs far more than a
//!   commit). `exactly_once_v2`: one transactional producer per thread, the
//!   input offsets sent in the transaction, `read_committed` inputs, and
//!   checkpoints only on a clean close.
//! * **Failures.** A send or a transaction that fails with an error
//!   retrying may fix (a timeout, an abortable transaction error) marks the
//!   thread's tasks corrupted: the transaction is aborted, the tasks are
//!   closed, their state wiped and restored from the changelogs, and their
//!   inputs read again from the last committed offsets, without the
//!   uncaught-error handler hearing of it (Kafka Streams'
//!   `TaskCorruptedException`). A fenced producer or a lost assignment
//!   closes the tasks dirty and the thread rejoins the group. Other errors
//!   go to the uncaught-error handler.
//! * **Input order.** A task with several input partitions picks the record
//!   with the lowest timestamp, and waits for an empty input as
//!   `max.task.idle.ms` says (see Kafka Streams' documentation of it; the
//!   lag it checks is librdkafka's cached high watermark).
//! * **Bad records.** A record that fails to deserialize goes to the
//!   configured handler (`default.deserialization.exception.handler`:
//!   log-and-fail by default, or log-and-continue with a counter) and, when
//!   `errors.dead.letter.queue.topic.name` is set, to that topic with its
//!   original bytes and `__streams.errors.*` headers (KIP-1034).
//! * [`EmbeddedKafka`] runs a mock broker in-process for examples and
//!   tests; read its documentation for what it does not do.
//!
//! * **Global tables.** Each stream thread reads the global topics in full
//!   before it joins the group, then keeps its copy current.
//!
//! Not implemented: standby replicas, interactive queries, purging
//! consumed repartition records, and the cooperative rebalance protocol.

mod batch_queue;
mod config;
mod embedded;
mod errors;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod global;
mod internal_topics;
mod kafka_streams;
mod logging;
mod record_collector;
mod restore;
mod shutdown;
mod signals;
mod state_dir;
mod stream_thread;
mod task_manager;
mod tools;

pub use embedded::EmbeddedKafka;
pub use errors::{RuntimeError, StreamsUncaughtExceptionResponse};
pub use internal_topics::{TopicSpec, create_topics};
pub use kafka_streams::{KafkaStreams, State, StreamsMetrics};
pub use logging::{init_logging, is_logged, log_level, log_line};
pub use restore::StateRestoreListener;
pub use signals::ShutdownSignal;
pub use tools::{KafkaRecord, produce, read_topic, topic_configs, wait_until_processed};
