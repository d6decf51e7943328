//! Values with timestamps, and Kafka Streams' byte format for them.
//!
//! A timestamped store keeps each value as `[8-byte big-endian
//! timestamp][serialized value]`, the layout of Kafka Streams'
//! `ValueAndTimestampSerializer`, so that stores, changelog restores and
//! Java applications agree byte for byte.

use super::{StoreError, StoreResult};

/// Bytes taken by the timestamp in front of a timestamped value.
pub const TIMESTAMP_SIZE: usize = 8;

/// A value with the timestamp of the record that produced it, as KTables
/// store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueAndTimestamp<V> {
    /// The value.
    pub value: V,
    /// The timestamp, in milliseconds since the epoch.
    pub timestamp: i64,
}

impl<V> ValueAndTimestamp<V> {
    /// Pairs `value` with `timestamp`.
    pub fn new(value: V, timestamp: i64) -> Self {
        ValueAndTimestamp { value, timestamp }
    }

    /// Maps the value, keeping the timestamp.
    pub fn map<W>(self, f: impl FnOnce(V) -> W) -> ValueAndTimestamp<W> {
        ValueAndTimestamp {
            value: f(self.value),
            timestamp: self.timestamp,
        }
    }
}

/// Appends the timestamp prefix of a timestamped value to `out`; the value
/// bytes follow it.
pub fn write_timestamp_prefix(timestamp: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&timestamp.to_be_bytes());
}

/// `[timestamp][raw]` as one buffer.
pub fn timestamped_bytes(timestamp: i64, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TIMESTAMP_SIZE + raw.len());
    write_timestamp_prefix(timestamp, &mut out);
    out.extend_from_slice(raw);
    out
}

/// Splits a timestamped value into its timestamp and value bytes; fails when
/// the bytes are too short to hold a timestamp (`store` names the store in
/// the error).
pub fn split_timestamped<'a>(store: &str, bytes: &'a [u8]) -> StoreResult<(i64, &'a [u8])> {
    match bytes.split_first_chunk::<TIMESTAMP_SIZE>() {
        Some((timestamp, raw)) => Ok((i64::from_be_bytes(*timestamp), raw)),
        None => Err(StoreError::InvalidArgument {
            store: store.to_owned(),
            reason: format!(
                "a timestamped value needs at least {TIMESTAMP_SIZE} bytes, found {}",
                bytes.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_big_endian_timestamp_then_value() {
        let bytes = timestamped_bytes(0x0102_0304_0506_0708, b"abc");
        assert_eq!(bytes, vec![1, 2, 3, 4, 5, 6, 7, 8, b'a', b'b', b'c']);
        assert_eq!(
            split_timestamped("s", &bytes).ok(),
            Some((0x0102_0304_0506_0708, &b"abc"[..]))
        );
    }

    #[test]
    fn negative_timestamps_round_trip() {
        let bytes = timestamped_bytes(-1, b"");
        assert_eq!(bytes, vec![0xFF; 8]);
        assert_eq!(split_timestamped("s", &bytes).ok(), Some((-1, &b""[..])));
    }

    #[test]
    fn short_values_are_rejected() {
        assert!(matches!(
            split_timestamped("s", &[1, 2, 3]),
            Err(StoreError::InvalidArgument { .. })
        ));
    }
}
