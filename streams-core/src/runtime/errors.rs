//! Errors of the runtime, and what a stream thread's uncaught error leads
//! to ([`StreamsUncaughtExceptionResponse`]).

use crate::error::StreamsError;

/// What went wrong while running a topology on Kafka.
///
/// The public API returns [`StreamsError`]; a `RuntimeError` turns into
/// [`StreamsError::Config`] when the fix is a configuration change and into
/// [`StreamsError::Kafka`] otherwise, its message kept.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The configuration is missing something or has a bad value.
    #[error("{0}")]
    Config(String),
    /// The brokers did not answer in time.
    #[error(
        "cannot reach Kafka at '{bootstrap}' within {timeout_ms} ms ({reason}): check bootstrap.servers and that the brokers are running"
    )]
    Unreachable {
        /// `bootstrap.servers`.
        bootstrap: String,
        /// How long we waited.
        timeout_ms: u64,
        /// The client's last error.
        reason: String,
    },
    /// A Kafka client call failed.
    #[error("{operation} failed: {source}")]
    Client {
        /// What was being done.
        operation: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A topic the topology reads does not exist.
    #[error("source topic '{0}' does not exist: create it before starting the application")]
    MissingSourceTopic(String),
    /// An internal topic exists with other settings than the topology needs,
    /// or topics that must be co-partitioned are not.
    #[error("{0}")]
    TopicMismatch(String),
    /// A task's state directory could not be used.
    #[error("state directory {path}: {reason}")]
    StateDir {
        /// The directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A record could not be sent (reported by the producer).
    #[error("sending to {topic} failed: {reason}")]
    Send {
        /// The topic.
        topic: String,
        /// The producer's error.
        reason: String,
    },
    /// This thread's producer was fenced by a newer instance with the same
    /// transactional id (exactly-once): its tasks now belong elsewhere.
    #[error("producer fenced: {0}")]
    Fenced(String),
    /// The group moved this thread's tasks while it was committing (a
    /// rebalance was in progress, or the member was fenced): the tasks are
    /// closed dirty and the thread rejoins the group.
    #[error("tasks migrated: {0}")]
    TaskMigrated(String),
    /// A send or a transaction failed with an error that retrying may fix
    /// (a timeout, a broker briefly away), so what the tasks wrote since
    /// the last commit is in doubt: the thread aborts the transaction
    /// (exactly-once), closes its tasks dirty, wipes their state, restores
    /// it from the changelogs and goes back to the last committed input
    /// offsets (Kafka Streams' `TaskCorruptedException`, never shown to the
    /// uncaught-error handler).
    #[error("tasks corrupted: {0}")]
    TaskCorrupted(String),
    /// Processing failed in a task.
    #[error("task {task}: {source}")]
    Task {
        /// The task id.
        task: String,
        /// The error.
        #[source]
        source: Box<StreamsError>,
    },
    /// The instance is not in a state that allows the call.
    #[error("{0}")]
    IllegalState(String),
}

impl RuntimeError {
    pub(crate) fn client(operation: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        RuntimeError::Client {
            operation: operation.into(),
            source,
        }
    }

    /// Whether the same call may succeed when made again: a broker was
    /// busy, moving its coordinator, or briefly unreachable (Kafka Streams
    /// retries these until `task.timeout.ms`).
    pub(crate) fn is_retriable(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as C;
        let RuntimeError::Client { source, .. } = self else {
            return false;
        };
        matches!(
            source.rdkafka_error_code(),
            Some(
                C::RequestTimedOut
                    | C::OperationTimedOut
                    | C::NetworkException
                    | C::CoordinatorLoadInProgress
                    | C::CoordinatorNotAvailable
                    | C::NotCoordinator
                    | C::WaitingForCoordinator
                    | C::BrokerTransportFailure
                    | C::AllBrokersDown
                    | C::RebalanceInProgress
            )
        )
    }

    /// Whether the error says a partition's leadership is still settling,
    /// as it does right after its topic is created or while a leader
    /// moves: asking again shortly succeeds.
    pub(crate) fn is_metadata_settling(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as C;
        let RuntimeError::Client { source, .. } = self else {
            return false;
        };
        matches!(
            source.rdkafka_error_code(),
            Some(
                C::NotLeaderForPartition
                    | C::LeaderNotAvailable
                    | C::UnknownTopicOrPartition
                    | C::ReplicaNotAvailable
                    | C::UnknownLeaderEpoch
                    | C::FencedLeaderEpoch
                    | C::OffsetNotAvailable
            )
        )
    }
}

impl From<RuntimeError> for StreamsError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Config(m) => StreamsError::Config(m),
            RuntimeError::Task { source, .. } => *source,
            other => StreamsError::Kafka(other.to_string()),
        }
    }
}

pub(crate) type RuntimeResult<T> = Result<T, RuntimeError>;

/// What to do when a stream thread fails (Kafka Streams'
/// `StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamsUncaughtExceptionResponse {
    /// Start a new thread in place of the failed one: it joins the group
    /// again and its tasks are restored from their changelogs. The failed
    /// thread's tasks are closed dirty first (under exactly-once its open
    /// transaction is aborted and their state is wiped).
    ReplaceThread,
    /// Stop every thread of this instance; the state becomes `ERROR`.
    ShutdownClient,
    /// Stop every thread of every instance of the application (every
    /// `KafkaStreams` with the same `application.id`, in any process): each
    /// instance's state becomes `ERROR`, as in Kafka Streams.
    ///
    /// What each instance's state listener hears, as in Kafka Streams: the
    /// failing instance goes `PENDING_ERROR` then `ERROR` (through
    /// `REBALANCING` first when another of its threads owns tasks); every
    /// other instance goes `REBALANCING` (when it owns tasks), then
    /// `PENDING_ERROR`, then `ERROR` once its threads have committed,
    /// closed their tasks and left the group. `ERROR` is final and
    /// everything is released by then: `close` is not needed (it returns
    /// `true` and leaves the state `ERROR`).
    ///
    /// **How the other instances hear of it differs from Kafka Streams.**
    /// There the failing thread sets an error code in its subscription
    /// userdata and forces a rebalance, and the group leader's assignor
    /// sends the code to every member. librdkafka lets an application write
    /// neither subscription userdata nor its own assignor, so here the
    /// failing instance writes a request (its process id, `client.id`,
    /// thread and the error) to the internal topic
    /// `<application.id>-shutdown-requests` (one partition, created at
    /// start with the other internal topics), and every instance reads that
    /// topic with a consumer of its own that joins no group, starting at
    /// the end the topic had when the instance started: it stops within a
    /// fraction of a second of the request, and a request written before it
    /// started (by an earlier run of the application) never stops it. The
    /// instances of the failing instance's own process stop at once,
    /// whether or not the request could be written.
    ShutdownApplication,
}
