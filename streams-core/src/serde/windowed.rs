//! Serdes for windowed keys, in Kafka Streams' binary layouts.
//!
//! These are the formats that windowed aggregation results have on output
//! topics, so Java consumers using Kafka's `TimeWindowedDeserializer` or
//! `SessionWindowedDeserializer` read what this port writes.

use super::builtin::deserialize_error;
use super::{Serde, SerdeError, SerdeRef};
use crate::window::{Window, Windowed};

/// Size of one big-endian timestamp in a windowed key.
const TIMESTAMP_LEN: usize = 8;

/// Reads the big-endian `i64` at `bytes[at..at + 8]`, if present.
fn read_i64(bytes: &[u8], at: usize) -> Option<i64> {
    let raw = bytes.get(at..at.checked_add(TIMESTAMP_LEN)?)?;
    Some(i64::from_be_bytes(raw.try_into().ok()?))
}

/// The inner key bytes of a time-windowed key (`[key][8-byte start]`), or
/// `None` if `bytes` is too short to be one.
///
/// This is what Kafka Streams hashes to partition a time-windowed key, so
/// all windows of a key land on the partition of the bare key.
///
/// ```rust
/// use streams_core::serde::time_windowed_base_key;
///
/// assert_eq!(time_windowed_base_key(b"k\0\0\0\0\0\0\0\x05"), Some(&b"k"[..]));
/// assert_eq!(time_windowed_base_key(b"short"), None);
/// ```
pub fn time_windowed_base_key(bytes: &[u8]) -> Option<&[u8]> {
    bytes.get(..bytes.len().checked_sub(TIMESTAMP_LEN)?)
}

/// The window start of a time-windowed key (`[key][8-byte start]`), or
/// `None` if `bytes` is too short to be one.
pub fn time_windowed_start(bytes: &[u8]) -> Option<i64> {
    read_i64(bytes, bytes.len().checked_sub(TIMESTAMP_LEN)?)
}

/// The inner key bytes of a session-windowed key
/// (`[key][8-byte end][8-byte start]`), or `None` if `bytes` is too short to
/// be one.
pub fn session_windowed_base_key(bytes: &[u8]) -> Option<&[u8]> {
    bytes.get(..bytes.len().checked_sub(2 * TIMESTAMP_LEN)?)
}

/// The session start of a session-windowed key, or `None` if `bytes` is too
/// short to be one.
pub fn session_windowed_start(bytes: &[u8]) -> Option<i64> {
    read_i64(bytes, bytes.len().checked_sub(TIMESTAMP_LEN)?)
}

/// The session end of a session-windowed key, or `None` if `bytes` is too
/// short to be one.
pub fn session_windowed_end(bytes: &[u8]) -> Option<i64> {
    read_i64(bytes, bytes.len().checked_sub(2 * TIMESTAMP_LEN)?)
}

/// Keys of time (tumbling, hopping) window aggregations, written as
/// `[inner key bytes][8-byte big-endian window start]`.
///
/// The window end is not written: every window of one aggregation has the
/// same size, so the deserializer adds the configured size to the start. If
/// that passes `i64::MAX` the end is clamped to `i64::MAX`, as Kafka Streams
/// does. Bytes that cannot describe a time window (a negative start, or a
/// start with no room after it for a non-empty window) are an error.
pub struct TimeWindowedSerde<K> {
    inner: SerdeRef<K>,
    window_size_ms: i64,
}

impl<K: 'static> TimeWindowedSerde<K> {
    /// Wraps the serde of the bare key; `window_size_ms` is the size of the
    /// windows being read back (the `TimeWindows` size).
    ///
    /// ```rust
    /// use std::sync::Arc;
    /// use streams_core::serde::{Serde, StringSerde, TimeWindowedSerde};
    /// use streams_core::window::{Window, Windowed};
    ///
    /// let serde = TimeWindowedSerde::new(Arc::new(StringSerde), 10);
    /// let key = Windowed::new("k".to_string(), Window::new(20, 30).unwrap());
    /// let bytes = serde.serialize("t", &key).unwrap();
    /// assert_eq!(bytes, [b'k', 0, 0, 0, 0, 0, 0, 0, 20]);
    /// assert_eq!(serde.deserialize("t", &bytes).unwrap(), key);
    /// ```
    pub fn new(inner: SerdeRef<K>, window_size_ms: i64) -> TimeWindowedSerde<K> {
        TimeWindowedSerde {
            inner,
            window_size_ms,
        }
    }

    /// The serde of the bare key.
    pub fn inner(&self) -> &SerdeRef<K> {
        &self.inner
    }

    /// The window size used to rebuild window ends, in milliseconds.
    pub fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    /// Appends only the inner key's bytes: what the windowed partitioner
    /// hashes, as Kafka's `WindowedSerializer.serializeBaseKey`.
    pub fn serialize_base_key_into(
        &self,
        topic: &str,
        key: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        self.inner.serialize_into(topic, &key.key, out)
    }
}

impl<K> Clone for TimeWindowedSerde<K> {
    fn clone(&self) -> Self {
        TimeWindowedSerde {
            inner: self.inner.clone(),
            window_size_ms: self.window_size_ms,
        }
    }
}

impl<K> std::fmt::Debug for TimeWindowedSerde<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedSerde")
            .field("key", &std::any::type_name::<K>())
            .field("window_size_ms", &self.window_size_ms)
            .finish()
    }
}

impl<K: 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        self.inner.serialize_into(topic, &value.key, out)?;
        out.extend_from_slice(&value.window.start().to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let fail =
            |reason: String| deserialize_error(std::any::type_name::<Windowed<K>>(), topic, reason);
        let (Some(key_bytes), Some(start)) =
            (time_windowed_base_key(bytes), time_windowed_start(bytes))
        else {
            return Err(fail(format!(
                "a time-windowed key needs at least {TIMESTAMP_LEN} bytes for the window start, \
                 but {} bytes were received",
                bytes.len()
            )));
        };
        let key = self.inner.deserialize(topic, key_bytes)?;
        let end = start.checked_add(self.window_size_ms).unwrap_or(i64::MAX);
        let window = Window::new(start, end).map_err(|err| fail(err.to_string()))?;
        if end == start {
            return Err(fail(format!(
                "time window [{start}, {end}) is empty; the window size ({} ms) must be positive \
                 and the start below {}",
                self.window_size_ms,
                i64::MAX
            )));
        }
        Ok(Windowed::new(key, window))
    }
}

/// Keys of session window aggregations, written as
/// `[inner key bytes][8-byte big-endian end][8-byte big-endian start]`.
///
/// Sessions differ in length, so both bounds are written. Bytes whose start
/// is negative or whose end lies before the start are an error.
pub struct SessionWindowedSerde<K> {
    inner: SerdeRef<K>,
}

impl<K: 'static> SessionWindowedSerde<K> {
    /// Wraps the serde of the bare key.
    ///
    /// ```rust
    /// use std::sync::Arc;
    /// use streams_core::serde::{I32Serde, Serde, SessionWindowedSerde};
    /// use streams_core::window::{Window, Windowed};
    ///
    /// let serde = SessionWindowedSerde::new(Arc::new(I32Serde));
    /// let key = Windowed::new(7, Window::new(1, 2).unwrap());
    /// let bytes = serde.serialize("t", &key).unwrap();
    /// assert_eq!(bytes, [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    /// assert_eq!(serde.deserialize("t", &bytes).unwrap(), key);
    /// ```
    pub fn new(inner: SerdeRef<K>) -> SessionWindowedSerde<K> {
        SessionWindowedSerde { inner }
    }

    /// The serde of the bare key.
    pub fn inner(&self) -> &SerdeRef<K> {
        &self.inner
    }

    /// Appends only the inner key's bytes: what the windowed partitioner
    /// hashes, as Kafka's `WindowedSerializer.serializeBaseKey`.
    pub fn serialize_base_key_into(
        &self,
        topic: &str,
        key: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        self.inner.serialize_into(topic, &key.key, out)
    }
}

impl<K> Clone for SessionWindowedSerde<K> {
    fn clone(&self) -> Self {
        SessionWindowedSerde {
            inner: self.inner.clone(),
        }
    }
}

impl<K> std::fmt::Debug for SessionWindowedSerde<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedSerde")
            .field("key", &std::any::type_name::<K>())
            .finish()
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        self.inner.serialize_into(topic, &value.key, out)?;
        out.extend_from_slice(&value.window.end().to_be_bytes());
        out.extend_from_slice(&value.window.start().to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let fail =
            |reason: String| deserialize_error(std::any::type_name::<Windowed<K>>(), topic, reason);
        let (Some(key_bytes), Some(end), Some(start)) = (
            session_windowed_base_key(bytes),
            session_windowed_end(bytes),
            session_windowed_start(bytes),
        ) else {
            return Err(fail(format!(
                "a session-windowed key needs at least {} bytes for the session end and start, \
                 but {} bytes were received",
                2 * TIMESTAMP_LEN,
                bytes.len()
            )));
        };
        let key = self.inner.deserialize(topic, key_bytes)?;
        let window = Window::new(start, end).map_err(|err| fail(err.to_string()))?;
        Ok(Windowed::new(key, window))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::serde::{I64Serde, StringSerde};

    const T: &str = "out";

    fn w(start: i64, end: i64) -> Window {
        Window::new(start, end).unwrap()
    }

    fn time(size: i64) -> TimeWindowedSerde<String> {
        TimeWindowedSerde::new(Arc::new(StringSerde), size)
    }

    #[test]
    fn time_windowed_layout() {
        let key = Windowed::new(
            "key".to_string(),
            w(0x0102_0304_0506_0708, 0x0102_0304_0506_0710),
        );
        let bytes = time(8).serialize(T, &key).unwrap();
        assert_eq!(bytes, b"key\x01\x02\x03\x04\x05\x06\x07\x08");
        assert_eq!(time(8).deserialize(T, &bytes).unwrap(), key);
    }

    #[test]
    fn time_windowed_end_comes_from_the_configured_size() {
        // The end is not written: a different size gives a different end.
        let key = Windowed::new("a".to_string(), w(100, 110));
        let bytes = time(10).serialize(T, &key).unwrap();
        let read = time(50).deserialize(T, &bytes).unwrap();
        assert_eq!(read.window, w(100, 150));
    }

    #[test]
    fn time_windowed_end_saturates() {
        let mut bytes = b"a".to_vec();
        bytes.extend_from_slice(&(i64::MAX - 5).to_be_bytes());
        let read = time(10).deserialize(T, &bytes).unwrap();
        assert_eq!(read.window, w(i64::MAX - 5, i64::MAX));
        // Java's default size for an unknown window size is Long.MAX_VALUE.
        let read = time(i64::MAX).deserialize(T, &bytes).unwrap();
        assert_eq!(read.window.end(), i64::MAX);
    }

    #[test]
    fn time_windowed_rejects_malformed_input() {
        assert!(time(10).deserialize(T, b"1234567").is_err());
        // Negative start.
        let mut bytes = b"a".to_vec();
        bytes.extend_from_slice(&(-1i64).to_be_bytes());
        let err = time(10).deserialize(T, &bytes).unwrap_err();
        assert!(err.to_string().contains("must not be negative"), "{err}");
        // Empty window: start at i64::MAX, or a zero size.
        let mut bytes = b"a".to_vec();
        bytes.extend_from_slice(&i64::MAX.to_be_bytes());
        assert!(time(10).deserialize(T, &bytes).is_err());
        let bytes = [b'a', 0, 0, 0, 0, 0, 0, 0, 1];
        assert!(time(0).deserialize(T, &bytes).is_err());
        assert!(time(-5).deserialize(T, &bytes).is_err());
        // The inner serde's error comes through.
        let bytes = [0xff, 0, 0, 0, 0, 0, 0, 0, 1];
        assert!(matches!(
            time(10).deserialize(T, &bytes),
            Err(SerdeError::Deserialize {
                type_name: "String",
                ..
            })
        ));
    }

    #[test]
    fn time_windowed_empty_inner_key() {
        let key = Windowed::new(String::new(), w(5, 15));
        let bytes = time(10).serialize(T, &key).unwrap();
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(time(10).deserialize(T, &bytes).unwrap(), key);
    }

    #[test]
    fn session_windowed_layout() {
        let serde = SessionWindowedSerde::new(Arc::new(StringSerde));
        let key = Windowed::new("s".to_string(), w(3, 0x0100));
        let bytes = serde.serialize(T, &key).unwrap();
        assert_eq!(
            bytes,
            [b's', 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 3]
        );
        assert_eq!(serde.deserialize(T, &bytes).unwrap(), key);
        // A session of a single record has start == end.
        let point = Windowed::new("p".to_string(), w(9, 9));
        let bytes = serde.serialize(T, &point).unwrap();
        assert_eq!(serde.deserialize(T, &bytes).unwrap(), point);
    }

    #[test]
    fn session_windowed_rejects_malformed_input() {
        let serde = SessionWindowedSerde::new(Arc::new(StringSerde));
        assert!(serde.deserialize(T, &[0; 15]).is_err());
        // End before start.
        let mut bytes = b"x".to_vec();
        bytes.extend_from_slice(&5i64.to_be_bytes());
        bytes.extend_from_slice(&6i64.to_be_bytes());
        assert!(serde.deserialize(T, &bytes).is_err());
        // Negative start.
        let mut bytes = b"x".to_vec();
        bytes.extend_from_slice(&5i64.to_be_bytes());
        bytes.extend_from_slice(&(-6i64).to_be_bytes());
        assert!(serde.deserialize(T, &bytes).is_err());
    }

    #[test]
    fn helpers_extract_parts() {
        let time_key = [b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 42];
        assert_eq!(time_windowed_base_key(&time_key), Some(&b"ab"[..]));
        assert_eq!(time_windowed_start(&time_key), Some(42));
        assert_eq!(time_windowed_base_key(&[0; 8]), Some(&b""[..]));
        assert_eq!(time_windowed_base_key(&[0; 7]), None);
        assert_eq!(time_windowed_start(&[0; 7]), None);

        let serde = SessionWindowedSerde::new(Arc::new(I64Serde));
        let bytes = serde.serialize(T, &Windowed::new(-1, w(10, 20))).unwrap();
        assert_eq!(session_windowed_base_key(&bytes), Some(&[0xff; 8][..]));
        assert_eq!(session_windowed_end(&bytes), Some(20));
        assert_eq!(session_windowed_start(&bytes), Some(10));
        assert_eq!(session_windowed_base_key(&[0; 15]), None);
        assert_eq!(session_windowed_end(&[0; 15]), None);
        assert_eq!(session_windowed_start(&[0; 7]), None);
    }

    #[test]
    fn base_key_serialization() {
        let key = Windowed::new("abc".to_string(), w(0, 10));
        let mut out = Vec::new();
        time(10).serialize_base_key_into(T, &key, &mut out).unwrap();
        assert_eq!(out, b"abc");
        let full = time(10).serialize(T, &key).unwrap();
        assert_eq!(time_windowed_base_key(&full), Some(&out[..]));
        let mut out = Vec::new();
        SessionWindowedSerde::new(Arc::new(StringSerde))
            .serialize_base_key_into(T, &key, &mut out)
            .unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn serialize_into_appends() {
        let mut out = vec![9];
        time(10)
            .serialize_into(T, &Windowed::new("k".to_string(), w(1, 11)), &mut out)
            .unwrap();
        assert_eq!(out, [9, b'k', 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
