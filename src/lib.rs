//! # streams
//!
//! Kafka Streams for Rust: a stream-processing DSL with Kafka Streams'
//! semantics. This crate re-exports the engine (`streams-core`) and the derive
//! macros (`streams-macros`), such as `#[derive(StreamsSerde)]`.
#![deny(missing_docs)]

pub use streams_core::*;
pub use streams_macros::StreamsSerde;
