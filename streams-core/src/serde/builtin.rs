//! The built-in serdes for primitive types, with Kafka's exact encodings.

use std::sync::Arc;

use super::{DefaultSerde, Serde, SerdeError, SerdeRef};

/// Builds the error for bytes that cannot be read as `type_name`.
pub(crate) fn deserialize_error(
    type_name: &'static str,
    topic: &str,
    reason: impl Into<String>,
) -> SerdeError {
    SerdeError::Deserialize {
        type_name,
        topic: topic.to_owned(),
        reason: reason.into(),
    }
}

/// Builds the error for a value that cannot be written as bytes.
pub(crate) fn serialize_error(
    type_name: &'static str,
    topic: &str,
    reason: impl Into<String>,
) -> SerdeError {
    SerdeError::Serialize {
        type_name,
        topic: topic.to_owned(),
        reason: reason.into(),
    }
}

/// Checks that `bytes` has exactly `N` bytes and returns them as an array.
/// `kafka_name` is the Java deserializer's name, so the message matches what
/// a Kafka user would see for the same bytes.
fn fixed<const N: usize>(
    type_name: &'static str,
    kafka_name: &str,
    topic: &str,
    bytes: &[u8],
) -> Result<[u8; N], SerdeError> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        deserialize_error(
            type_name,
            topic,
            format!("Size of data received by {kafka_name} is not {N}"),
        )
    })
}

/// UTF-8 strings, as Kafka's `StringSerde` with its default encoding.
///
/// Unlike Java, which replaces malformed sequences with U+FFFD, bytes that
/// are not valid UTF-8 are an error: a Rust `String` cannot hold them, and
/// silently altering a key would also change its partition and store entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<String, SerdeError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(err) => Err(deserialize_error(
                "String",
                topic,
                format!("data is not valid UTF-8: {err}"),
            )),
        }
    }
}

/// Raw bytes, passed through unchanged, as Kafka's `ByteArraySerde`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        value: &Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }

    fn deserialize(&self, _topic: &str, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

/// Declares a serde for a fixed-width number stored big-endian, as Kafka's
/// numeric serdes do.
macro_rules! big_endian_serde {
    (
        $(#[$doc:meta])*
        $name:ident, $ty:ty, $kafka:literal, $size:literal,
        |$v:ident| $to_bits:expr,
        |$b:ident| $from_bits:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl Serde<$ty> for $name {
            fn serialize_into(
                &self,
                _topic: &str,
                value: &$ty,
                out: &mut Vec<u8>,
            ) -> Result<(), SerdeError> {
                let $v = *value;
                out.extend_from_slice(&$to_bits);
                Ok(())
            }

            fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<$ty, SerdeError> {
                let $b = fixed::<$size>(stringify!($ty), $kafka, topic, bytes)?;
                Ok($from_bits)
            }
        }
    };
}

big_endian_serde!(
    /// 16-bit signed integers, 2 bytes big-endian, as Kafka's `ShortSerde`.
    I16Serde, i16, "ShortDeserializer", 2,
    |v| v.to_be_bytes(),
    |b| i16::from_be_bytes(b)
);

big_endian_serde!(
    /// 32-bit signed integers, 4 bytes big-endian, as Kafka's `IntegerSerde`.
    I32Serde, i32, "IntegerDeserializer", 4,
    |v| v.to_be_bytes(),
    |b| i32::from_be_bytes(b)
);

big_endian_serde!(
    /// 64-bit signed integers, 8 bytes big-endian, as Kafka's `LongSerde`.
    I64Serde, i64, "LongDeserializer", 8,
    |v| v.to_be_bytes(),
    |b| i64::from_be_bytes(b)
);

big_endian_serde!(
    /// 32-bit floats as their raw IEEE-754 bits, 4 bytes big-endian, as
    /// Kafka's `FloatSerde` (NaN payloads are kept bit for bit).
    F32Serde, f32, "FloatDeserializer", 4,
    |v| v.to_bits().to_be_bytes(),
    |b| f32::from_bits(u32::from_be_bytes(b))
);

big_endian_serde!(
    /// 64-bit floats as their raw IEEE-754 bits, 8 bytes big-endian, as
    /// Kafka's `DoubleSerde` (NaN payloads are kept bit for bit).
    F64Serde, f64, "DoubleDeserializer", 8,
    |v| v.to_bits().to_be_bytes(),
    |b| f64::from_bits(u64::from_be_bytes(b))
);

/// Booleans as one byte, `1` for true and `0` for false, as Kafka 4.x's
/// `BooleanSerde`. Any other byte is an error rather than a guess.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BoolSerde;

impl Serde<bool> for BoolSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        value: &bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.push(u8::from(*value));
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<bool, SerdeError> {
        let [byte] = fixed::<1>("bool", "BooleanDeserializer", topic, bytes)?;
        match byte {
            0 => Ok(false),
            1 => Ok(true),
            // Java prints the signed byte; so do we, so messages match.
            other => Err(deserialize_error(
                "bool",
                topic,
                format!(
                    "Unexpected byte received by BooleanDeserializer: {}",
                    other as i8
                ),
            )),
        }
    }
}

/// The unit type as zero bytes: for topics whose key or value carries no
/// information (Kafka uses `Void` for this). Non-empty bytes are an error,
/// since they mean the topic holds data this serde would throw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        _value: &(),
        _out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<(), SerdeError> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(deserialize_error(
                "()",
                topic,
                format!(
                    "data should be empty for the unit serde, but {} bytes were received",
                    bytes.len()
                ),
            ))
        }
    }
}

/// Implements [`DefaultSerde`] for a type whose serde is a unit struct.
macro_rules! default_serde {
    ($($ty:ty => $serde:ident),* $(,)?) => {
        $(
            impl DefaultSerde for $ty {
                fn default_serde() -> SerdeRef<Self> {
                    Arc::new($serde)
                }
            }
        )*
    };
}

default_serde!(
    String => StringSerde,
    Vec<u8> => BytesSerde,
    i16 => I16Serde,
    i32 => I32Serde,
    i64 => I64Serde,
    f32 => F32Serde,
    f64 => F64Serde,
    bool => BoolSerde,
    () => UnitSerde,
);

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "topic";

    fn ser<V, S: Serde<V>>(serde: &S, value: V) -> Vec<u8> {
        serde.serialize(T, &value).unwrap()
    }

    fn reason(err: SerdeError) -> String {
        match err {
            SerdeError::Deserialize { reason, .. } | SerdeError::Serialize { reason, .. } => reason,
        }
    }

    #[test]
    fn string_encoding() {
        assert_eq!(ser(&StringSerde, "héllo".to_string()), b"h\xc3\xa9llo");
        assert_eq!(ser(&StringSerde, String::new()), b"");
        assert_eq!(
            StringSerde.deserialize(T, b"h\xc3\xa9llo").unwrap(),
            "héllo"
        );
        assert_eq!(StringSerde.deserialize(T, b"").unwrap(), "");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let err = StringSerde
            .deserialize("words", &[0x61, 0xff, 0x62])
            .unwrap_err();
        match &err {
            SerdeError::Deserialize {
                type_name, topic, ..
            } => {
                assert_eq!(*type_name, "String");
                assert_eq!(topic, "words");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn bytes_pass_through() {
        assert_eq!(ser(&BytesSerde, vec![0, 1, 255]), vec![0, 1, 255]);
        assert_eq!(BytesSerde.deserialize(T, &[9, 8]).unwrap(), vec![9, 8]);
        assert_eq!(BytesSerde.deserialize(T, &[]).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn integers_are_big_endian() {
        assert_eq!(ser(&I16Serde, 0x0102), [0x01, 0x02]);
        assert_eq!(ser(&I16Serde, -2), [0xff, 0xfe]);
        assert_eq!(ser(&I32Serde, 1), [0, 0, 0, 1]);
        assert_eq!(ser(&I32Serde, -1), [0xff; 4]);
        assert_eq!(ser(&I32Serde, i32::MIN), [0x80, 0, 0, 0]);
        assert_eq!(
            ser(&I64Serde, 0x0102_0304_0506_0708),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(ser(&I64Serde, i64::MIN), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(I16Serde.deserialize(T, &[0x80, 0x00]).unwrap(), i16::MIN);
        assert_eq!(I32Serde.deserialize(T, &[0, 0, 1, 0]).unwrap(), 256);
        assert_eq!(I64Serde.deserialize(T, &[0xff; 8]).unwrap(), -1);
    }

    #[test]
    fn wrong_lengths_name_the_expected_size() {
        assert_eq!(
            reason(I16Serde.deserialize(T, &[1]).unwrap_err()),
            "Size of data received by ShortDeserializer is not 2"
        );
        assert_eq!(
            reason(I32Serde.deserialize(T, &[1, 2, 3]).unwrap_err()),
            "Size of data received by IntegerDeserializer is not 4"
        );
        assert_eq!(
            reason(I32Serde.deserialize(T, &[1, 2, 3, 4, 5]).unwrap_err()),
            "Size of data received by IntegerDeserializer is not 4"
        );
        assert_eq!(
            reason(I64Serde.deserialize(T, &[]).unwrap_err()),
            "Size of data received by LongDeserializer is not 8"
        );
        assert_eq!(
            reason(F32Serde.deserialize(T, &[0; 8]).unwrap_err()),
            "Size of data received by FloatDeserializer is not 4"
        );
        assert_eq!(
            reason(F64Serde.deserialize(T, &[0; 4]).unwrap_err()),
            "Size of data received by DoubleDeserializer is not 8"
        );
        assert_eq!(
            reason(BoolSerde.deserialize(T, &[]).unwrap_err()),
            "Size of data received by BooleanDeserializer is not 1"
        );
        let err = I32Serde.deserialize("nums", &[1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot deserialize i32 from topic 'nums': \
             Size of data received by IntegerDeserializer is not 4"
        );
    }

    #[test]
    fn floats_are_raw_ieee_bits() {
        assert_eq!(ser(&F32Serde, 1.0), [0x3f, 0x80, 0, 0]);
        assert_eq!(ser(&F32Serde, -2.5), [0xc0, 0x20, 0, 0]);
        assert_eq!(ser(&F64Serde, 1.0), [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            ser(&F64Serde, 0.1),
            [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
        assert_eq!(
            F32Serde.deserialize(T, &[0x40, 0x49, 0x0f, 0xdb]).unwrap(),
            std::f32::consts::PI
        );
        assert_eq!(
            F64Serde
                .deserialize(T, &[0xc0, 0x00, 0, 0, 0, 0, 0, 0])
                .unwrap(),
            -2.0
        );
        // A NaN payload survives the round trip bit for bit.
        let nan = f32::from_bits(0x7f80_0001);
        let back = F32Serde.deserialize(T, &ser(&F32Serde, nan)).unwrap();
        assert_eq!(back.to_bits(), 0x7f80_0001);
        assert_eq!(ser(&F64Serde, -0.0), [0x80, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn booleans_are_one_byte() {
        assert_eq!(ser(&BoolSerde, true), [1]);
        assert_eq!(ser(&BoolSerde, false), [0]);
        assert!(BoolSerde.deserialize(T, &[1]).unwrap());
        assert!(!BoolSerde.deserialize(T, &[0]).unwrap());
        assert_eq!(
            reason(BoolSerde.deserialize(T, &[2]).unwrap_err()),
            "Unexpected byte received by BooleanDeserializer: 2"
        );
        assert_eq!(
            reason(BoolSerde.deserialize(T, &[0xff]).unwrap_err()),
            "Unexpected byte received by BooleanDeserializer: -1"
        );
        assert!(BoolSerde.deserialize(T, &[1, 0]).is_err());
    }

    #[test]
    fn unit_is_zero_bytes() {
        assert_eq!(ser(&UnitSerde, ()), Vec::<u8>::new());
        UnitSerde.deserialize(T, &[]).unwrap();
        let err = UnitSerde.deserialize(T, &[0]).unwrap_err();
        assert!(reason(err).contains("1 bytes"));
    }

    #[test]
    fn serialize_into_appends() {
        let mut out = vec![0xaa];
        I32Serde.serialize_into(T, &7, &mut out).unwrap();
        StringSerde
            .serialize_into(T, &"x".to_string(), &mut out)
            .unwrap();
        BoolSerde.serialize_into(T, &true, &mut out).unwrap();
        UnitSerde.serialize_into(T, &(), &mut out).unwrap();
        assert_eq!(out, [0xaa, 0, 0, 0, 7, b'x', 1]);
    }

    #[test]
    fn default_serdes_round_trip() {
        fn round_trip<V: DefaultSerde + PartialEq + std::fmt::Debug>(value: V) {
            let serde = V::default_serde();
            let bytes = serde.serialize(T, &value).unwrap();
            assert_eq!(serde.deserialize(T, &bytes).unwrap(), value);
        }
        round_trip("abc".to_string());
        round_trip(vec![1u8, 2, 3]);
        round_trip(-7i16);
        round_trip(i32::MAX);
        round_trip(i64::MIN);
        round_trip(1.5f32);
        round_trip(-1.25f64);
        round_trip(true);
        round_trip(());
        assert_eq!(
            i64::default_serde().serialize(T, &1).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 1]
        );
    }
}
