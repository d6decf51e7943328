//! # streams-core
//!
//! The engine of Kafka Streams for Rust: the DSL (`StreamsBuilder`, `KStream`,
//! `KTable` ...), the topology it compiles to, the processors that run it, the
//! state stores they keep, and the `TopologyTestDriver` that runs a topology
//! in memory, record by record. Kafka Streams' behaviour is the specification:
//! names, defaults, window bounds, join emission and binary formats follow it.
#![deny(missing_docs)]

pub mod config;
pub mod dsl;
pub mod error;
pub mod partition;
pub mod processor;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod serde;
pub mod state;
pub mod testing;
pub mod topology;
pub mod window;

pub(crate) mod hint;
pub(crate) mod task;

pub use task::DeserializationHandler;
