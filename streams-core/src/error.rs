//! The top-level error type. Each layer has its own enum (serde, state,
//! topology, window, config); [`StreamsError`] carries any of them.

use crate::serde::SerdeError;
use crate::state::StoreError;
use crate::topology::TopologyError;

/// Any error of the library.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// A serde failed outside of a source (a sink or a store).
    #[error(transparent)]
    Serde(#[from] SerdeError),
    /// A record read from a topic could not be deserialized.
    #[error("deserialization failed for record at {topic}-{partition}@{offset}: {source}")]
    Deserialization {
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The source offset.
        offset: i64,
        /// What was wrong.
        #[source]
        source: SerdeError,
    },
    /// A state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The topology is malformed.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A processor failed.
    #[error("processor '{node}' failed: {reason}")]
    Processing {
        /// The node's name.
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A test-driver call could not be served (unknown topic, no record
    /// left to read ...).
    #[error("test driver: {0}")]
    TestDriver(String),
    /// The Kafka client failed.
    #[error("kafka: {0}")]
    Kafka(String),
}
