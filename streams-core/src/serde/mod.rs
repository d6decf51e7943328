//! Serializers and deserializers ("serdes") for record keys and values.
//!
//! A [`Serde<T>`] turns a non-null `T` into bytes and back. Null is not a
//! value of `T`: a Kafka record whose key or value bytes are null reaches the
//! topology as `None` (see [`crate::processor::Record`]) without calling the
//! deserializer, and a `None` is written to Kafka as null bytes. This is what
//! Kafka Streams' built-in deserializers do (`null` bytes give `null`), but
//! expressed in the type system instead of by convention.
//!
//! The built-in serdes use exactly Kafka's binary encodings (big-endian
//! integers and IEEE-754 floats, UTF-8 strings), so topics written here are
//! read by Java clients and the other way round.

use std::sync::Arc;

mod builtin;
mod change;
mod json;
mod serdes;
mod windowed;

pub use builtin::{
    BoolSerde, BytesSerde, F32Serde, F64Serde, I16Serde, I32Serde, I64Serde, StringSerde, UnitSerde,
};
pub use change::{Change, ChangeSerde};
pub use json::JsonSerde;
pub use serdes::Serdes;
pub use windowed::{
    SessionWindowedSerde, TimeWindowedSerde, session_windowed_base_key, session_windowed_end,
    session_windowed_start, time_windowed_base_key, time_windowed_start,
};

/// Errors raised while turning values into bytes or bytes into values.
///
/// They are returned as values, never panics: a malformed record is routed to
/// the configured deserialization exception handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerdeError {
    /// The bytes could not be read as the expected type.
    #[error("cannot deserialize {type_name} from topic '{topic}': {reason}")]
    Deserialize {
        /// The Rust type that was expected.
        type_name: &'static str,
        /// The topic the bytes came from.
        topic: String,
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The value could not be written as bytes.
    #[error("cannot serialize {type_name} for topic '{topic}': {reason}")]
    Serialize {
        /// The Rust type that was being written.
        type_name: &'static str,
        /// The topic the bytes were meant for.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}

/// A serializer and deserializer for values of type `T`.
///
/// Implementations must be cheap to share between tasks and threads; the DSL
/// holds them as [`SerdeRef<T>`].
pub trait Serde<T>: Send + Sync {
    /// Appends the encoding of `value` to `out` (which the caller may reuse
    /// between records, so no allocation is needed on the hot path).
    fn serialize_into(&self, topic: &str, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Reads a value from `bytes`. Never called for null bytes.
    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<T, SerdeError>;

    /// Encodes `value` into a fresh buffer.
    fn serialize(&self, topic: &str, value: &T) -> Result<Vec<u8>, SerdeError> {
        let mut out = Vec::new();
        self.serialize_into(topic, value, &mut out)?;
        Ok(out)
    }
}

/// A shared, type-erased serde, as the DSL's option types hold them.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

/// Types that have a default serde, so `Consumed::default()`,
/// `Produced::default()` and friends need none spelled out.
///
/// Implemented for the built-in types (with Kafka's encodings) and, through
/// `#[derive(StreamsSerde)]` from `streams-macros`, for user types.
pub trait DefaultSerde: Sized + 'static {
    /// The default serde of this type.
    fn default_serde() -> SerdeRef<Self>;
}
