//! KTable updates (`Change`) and their binary format on repartition topics.

use super::builtin::{deserialize_error, serialize_error};
use super::{DefaultSerde, Serde, SerdeError, SerdeRef};

/// An update to one KTable row: the row's value after the update and, when
/// the downstream needs it, its value before.
///
/// `new_value == None` is a deletion. `old_value` is `None` when the row did
/// not exist before or when old values are not being forwarded. KTable
/// operators pass these along so that aggregations can subtract the old
/// value before adding the new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change<V> {
    /// The value after the update; `None` for a deletion.
    pub new_value: Option<V>,
    /// The value before the update, if known and wanted.
    pub old_value: Option<V>,
}

impl<V> Change<V> {
    /// Creates an update from its new and old values.
    ///
    /// ```rust
    /// use streams_core::serde::Change;
    ///
    /// let change = Change::new(Some(2), Some(1));
    /// assert_eq!(change.new_value, Some(2));
    /// assert_eq!(change.old_value, Some(1));
    /// ```
    pub fn new(new_value: Option<V>, old_value: Option<V>) -> Change<V> {
        Change {
            new_value,
            old_value,
        }
    }
}

/// Encoding flags written as the last byte, as Kafka Streams' changed
/// serializer defines them.
const FLAG_OLD: u8 = 0;
const FLAG_NEW: u8 = 1;
const FLAG_BOTH: u8 = 2;
/// Flags 3 to 5 are the same three layouts followed by an "is latest" byte.
/// Kafka Streams reserves them and can read them, but does not write them
/// yet; reading them keeps this port compatible when it starts.
const FLAG_OLD_LATEST: u8 = 3;
const FLAG_NEW_LATEST: u8 = 4;
const FLAG_BOTH_LATEST: u8 = 5;

/// A Kafka zig-zag varint holds a 32-bit value in at most 5 bytes.
const MAX_VARINT_LEN: usize = 5;

/// The serde of [`Change`] values, in the format of Kafka Streams'
/// `ChangedSerializer` / `ChangedDeserializer` (3.x and 4.x), used for the
/// values of KTable `groupBy` repartition topics:
///
/// | change      | bytes                                                  |
/// |-------------|--------------------------------------------------------|
/// | old only    | `[old][0x00]`                                          |
/// | new only    | `[new][0x01]`                                          |
/// | new and old | `[varint len(new)][new][old][0x02]`                    |
///
/// where the varint is Kafka's zig-zag encoded 32-bit varint. Flags `3`, `4`
/// and `5` (the same layouts with an extra "is latest" byte before the flag)
/// are read too; the "is latest" byte is checked and then dropped, as
/// [`Change`] has no field for it.
///
/// A change with neither value cannot be written, as in Kafka Streams.
pub struct ChangeSerde<V> {
    inner: SerdeRef<V>,
}

impl<V: 'static> ChangeSerde<V> {
    /// Wraps the serde of the row values.
    ///
    /// ```rust
    /// use std::sync::Arc;
    /// use streams_core::serde::{Change, ChangeSerde, Serde, StringSerde};
    ///
    /// let serde = ChangeSerde::new(Arc::new(StringSerde));
    /// let bytes = serde.serialize("t", &Change::new(Some("a".to_string()), None)).unwrap();
    /// assert_eq!(bytes, [b'a', 0x01]);
    /// ```
    pub fn new(inner: SerdeRef<V>) -> ChangeSerde<V> {
        ChangeSerde { inner }
    }

    /// The serde of the row values.
    pub fn inner(&self) -> &SerdeRef<V> {
        &self.inner
    }
}

impl<V> Clone for ChangeSerde<V> {
    fn clone(&self) -> Self {
        ChangeSerde {
            inner: self.inner.clone(),
        }
    }
}

impl<V> std::fmt::Debug for ChangeSerde<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChangeSerde<{}>", std::any::type_name::<V>())
    }
}

/// Appends `value` as Kafka's zig-zag varint (`ByteUtils.writeVarint`).
fn write_varint(value: i32, out: &mut Vec<u8>) {
    let mut v = ((value << 1) ^ (value >> 31)) as u32;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads Kafka's zig-zag varint (`ByteUtils.readVarint`) from the front of
/// `bytes`, returning the value and the number of bytes it took.
fn read_varint(bytes: &[u8]) -> Result<(i32, usize), String> {
    let mut raw: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_VARINT_LEN) {
        raw |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((raw >> 1) as i32) ^ -((raw & 1) as i32);
            return Ok((value, i + 1));
        }
    }
    if bytes.len() < MAX_VARINT_LEN {
        Err("data ends inside the varint length of the new value".to_owned())
    } else {
        Err("varint length of the new value is longer than 5 bytes".to_owned())
    }
}

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Change<V>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        let start = out.len();
        let result = match (&value.new_value, &value.old_value) {
            (None, None) => Err(serialize_error(
                std::any::type_name::<Change<V>>(),
                topic,
                "Both old and new values are null in ChangeSerializer, which is not allowed; \
                 forward a deletion as a change with only an old value",
            )),
            (Some(new), None) => self
                .inner
                .serialize_into(topic, new, out)
                .map(|()| out.push(FLAG_NEW)),
            (None, Some(old)) => self
                .inner
                .serialize_into(topic, old, out)
                .map(|()| out.push(FLAG_OLD)),
            (Some(new), Some(old)) => self.serialize_both(topic, new, old, start, out),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<Change<V>, SerdeError> {
        let fail =
            |reason: String| deserialize_error(std::any::type_name::<Change<V>>(), topic, reason);
        let Some((&flag, body)) = bytes.split_last() else {
            return Err(fail(
                "no data: a change needs at least its encoding flag byte".to_owned(),
            ));
        };
        let body = match flag {
            FLAG_OLD | FLAG_NEW | FLAG_BOTH => body,
            FLAG_OLD_LATEST | FLAG_NEW_LATEST | FLAG_BOTH_LATEST => {
                let Some((&is_latest, rest)) = body.split_last() else {
                    return Err(fail(format!(
                        "encoding flag {flag} needs an isLatest byte, but the data has none"
                    )));
                };
                if is_latest > 1 {
                    return Err(fail(format!(
                        "Encountered unexpected byte value `{}` for isLatestFlag in ChangedDeserializer",
                        is_latest as i8
                    )));
                }
                rest
            }
            other => {
                return Err(fail(format!(
                    "Encountered unknown byte value `{}` for encodingFlag in ChangedDeserializer",
                    other as i8
                )));
            }
        };
        match flag {
            FLAG_OLD | FLAG_OLD_LATEST => Ok(Change::new(
                None,
                Some(self.inner.deserialize(topic, body)?),
            )),
            FLAG_NEW | FLAG_NEW_LATEST => Ok(Change::new(
                Some(self.inner.deserialize(topic, body)?),
                None,
            )),
            _ => {
                let (new_len, header) = read_varint(body).map_err(fail)?;
                let rest = &body[header..];
                let new_len = usize::try_from(new_len)
                    .ok()
                    .filter(|&len| len <= rest.len())
                    .ok_or_else(|| {
                        fail(format!(
                            "new value length {new_len} does not fit the {} bytes that follow it",
                            rest.len()
                        ))
                    })?;
                let (new_bytes, old_bytes) = rest.split_at(new_len);
                let new_value = self.inner.deserialize(topic, new_bytes)?;
                let old_value = self.inner.deserialize(topic, old_bytes)?;
                Ok(Change::new(Some(new_value), Some(old_value)))
            }
        }
    }
}

impl<V: 'static> ChangeSerde<V> {
    /// Writes `[varint len(new)][new][old][0x02]` without a scratch buffer:
    /// the new value is written first, then the varint is appended and
    /// rotated in front of it once its length is known.
    fn serialize_both(
        &self,
        topic: &str,
        new: &V,
        old: &V,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        self.inner.serialize_into(topic, new, out)?;
        let new_len = out.len() - start;
        let Ok(new_len_i32) = i32::try_from(new_len) else {
            return Err(serialize_error(
                std::any::type_name::<Change<V>>(),
                topic,
                format!(
                    "new value of {new_len} bytes is too large for the change format (max {} bytes)",
                    i32::MAX
                ),
            ));
        };
        write_varint(new_len_i32, out);
        let varint_len = out.len() - start - new_len;
        out[start..].rotate_right(varint_len);
        self.inner.serialize_into(topic, old, out)?;
        out.push(FLAG_BOTH);
        Ok(())
    }
}

impl<V: DefaultSerde> DefaultSerde for Change<V> {
    /// The change format around the default serde of `V`.
    fn default_serde() -> SerdeRef<Self> {
        std::sync::Arc::new(ChangeSerde::new(V::default_serde()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::serde::{I32Serde, StringSerde};

    const T: &str = "repartition";

    fn strings() -> ChangeSerde<String> {
        ChangeSerde::new(Arc::new(StringSerde))
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn new_only() {
        let bytes = strings()
            .serialize(T, &Change::new(s("hello"), None))
            .unwrap();
        assert_eq!(bytes, b"hello\x01");
        assert_eq!(
            strings().deserialize(T, &bytes).unwrap(),
            Change::new(s("hello"), None)
        );
    }

    #[test]
    fn old_only() {
        let bytes = strings()
            .serialize(T, &Change::new(None, s("world")))
            .unwrap();
        assert_eq!(bytes, b"world\x00");
        assert_eq!(
            strings().deserialize(T, &bytes).unwrap(),
            Change::new(None, s("world"))
        );
    }

    #[test]
    fn new_and_old() {
        // Kafka's ChangedSerdeTest values: varint(5) zig-zag encodes to 0x0a.
        let bytes = strings()
            .serialize(T, &Change::new(s("hello"), s("world")))
            .unwrap();
        assert_eq!(bytes, b"\x0ahelloworld\x02");
        assert_eq!(
            strings().deserialize(T, &bytes).unwrap(),
            Change::new(s("hello"), s("world"))
        );
    }

    #[test]
    fn new_and_old_with_integers() {
        let serde = ChangeSerde::new(Arc::new(I32Serde));
        let bytes = serde.serialize(T, &Change::new(Some(1), Some(-1))).unwrap();
        assert_eq!(bytes, [0x08, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert_eq!(
            serde.deserialize(T, &bytes).unwrap(),
            Change::new(Some(1), Some(-1))
        );
    }

    #[test]
    fn empty_values_are_kept() {
        let serde = strings();
        let bytes = serde.serialize(T, &Change::new(s(""), s(""))).unwrap();
        assert_eq!(bytes, [0x00, 0x02]);
        assert_eq!(
            serde.deserialize(T, &bytes).unwrap(),
            Change::new(s(""), s(""))
        );
        assert_eq!(
            serde.serialize(T, &Change::new(s(""), None)).unwrap(),
            [0x01]
        );
    }

    #[test]
    fn long_new_value_uses_multi_byte_varint() {
        let new = "n".repeat(200);
        let bytes = strings()
            .serialize(T, &Change::new(Some(new.clone()), s("o")))
            .unwrap();
        // zig-zag(200) = 400 = 0b1_1001_0000 -> 0x90 0x03.
        assert_eq!(&bytes[..2], &[0x90, 0x03]);
        assert_eq!(bytes.len(), 2 + 200 + 1 + 1);
        assert_eq!(bytes[202], b'o');
        assert_eq!(*bytes.last().unwrap(), 0x02);
        assert_eq!(
            strings().deserialize(T, &bytes).unwrap(),
            Change::new(Some(new), s("o"))
        );
    }

    #[test]
    fn serialize_into_appends_after_existing_bytes() {
        let mut out = b"prefix".to_vec();
        strings()
            .serialize_into(T, &Change::new(s("ab"), s("c")), &mut out)
            .unwrap();
        assert_eq!(out, b"prefix\x04abc\x02");
    }

    #[test]
    fn both_null_is_an_error() {
        let mut out = b"keep".to_vec();
        let err = strings()
            .serialize_into(T, &Change::new(None, None), &mut out)
            .unwrap_err();
        assert!(matches!(err, SerdeError::Serialize { .. }));
        assert!(err.to_string().contains("Both old and new values are null"));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn reserved_flags_three_to_five_are_read() {
        let serde = strings();
        assert_eq!(
            serde.deserialize(T, b"world\x01\x03").unwrap(),
            Change::new(None, s("world"))
        );
        assert_eq!(
            serde.deserialize(T, b"hello\x00\x04").unwrap(),
            Change::new(s("hello"), None)
        );
        assert_eq!(
            serde.deserialize(T, b"\x0ahelloworld\x01\x05").unwrap(),
            Change::new(s("hello"), s("world"))
        );
        assert!(serde.deserialize(T, b"hello\x02\x04").is_err());
        assert!(serde.deserialize(T, b"\x04").is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        let serde = strings();
        assert!(serde.deserialize(T, b"").is_err());
        let err = serde.deserialize(T, b"world\xff").unwrap_err();
        assert!(
            err.to_string()
                .contains("Encountered unknown byte value `-1` for encodingFlag"),
            "{err}"
        );
        assert!(serde.deserialize(T, b"world\x06").is_err());
        // Length larger than the remaining data.
        assert!(serde.deserialize(T, b"\x14ab\x02").is_err());
        // Negative length (zig-zag 0x01 = -1).
        assert!(serde.deserialize(T, b"\x01ab\x02").is_err());
        // Varint cut off.
        assert!(serde.deserialize(T, b"\x80\x02").is_err());
        // Varint longer than 5 bytes.
        assert!(
            serde
                .deserialize(T, b"\x80\x80\x80\x80\x80\x00\x02")
                .is_err()
        );
        // The inner serde's errors come through.
        assert!(serde.deserialize(T, b"\xff\x01").is_err());
    }

    #[test]
    fn varint_matches_kafka() {
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            write_varint(value, &mut out);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(read_varint(bytes), Ok((value, bytes.len())), "{value}");
        }
    }

    #[test]
    fn default_serde_wraps_the_value_default() {
        let serde = Change::<i32>::default_serde();
        assert_eq!(
            serde.serialize(T, &Change::new(None, Some(5))).unwrap(),
            [0, 0, 0, 5, 0]
        );
    }
}
