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
    /// Stop every thread of every instance of the application in this
    /// process (librdkafka offers no way to tell the instances in other
    /// processes, which Kafka Streams does through the group assignment);
    /// the state becomes `ERROR`.
    ShutdownApplication,
}
