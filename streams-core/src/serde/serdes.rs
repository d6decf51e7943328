//! `Serdes`: one place to get every built-in serde as a [`SerdeRef`].

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    BoolSerde, BytesSerde, Change, ChangeSerde, F32Serde, F64Serde, I16Serde, I32Serde, I64Serde,
    JsonSerde, SerdeRef, SessionWindowedSerde, StringSerde, TimeWindowedSerde, UnitSerde,
};
use crate::window::Windowed;

/// Factory of the built-in serdes, named after Kafka's `Serdes` class so
/// that `Serdes::string()` reads like `Serdes.String()`.
///
/// Each function returns a ready-to-share [`SerdeRef`], the form the DSL's
/// option types (`Consumed`, `Produced`, `Materialized` ...) take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings ([`StringSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// let serde = Serdes::string();
    /// assert_eq!(serde.serialize("t", &"hi".to_string()).unwrap(), b"hi");
    /// ```
    pub fn string() -> SerdeRef<String> {
        Arc::new(StringSerde)
    }

    /// Raw bytes ([`BytesSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::bytes().deserialize("t", &[1, 2]).unwrap(), vec![1, 2]);
    /// ```
    pub fn bytes() -> SerdeRef<Vec<u8>> {
        Arc::new(BytesSerde)
    }

    /// Big-endian 16-bit integers ([`I16Serde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::i16().serialize("t", &258).unwrap(), [1, 2]);
    /// ```
    pub fn i16() -> SerdeRef<i16> {
        Arc::new(I16Serde)
    }

    /// Big-endian 32-bit integers ([`I32Serde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::i32().serialize("t", &1).unwrap(), [0, 0, 0, 1]);
    /// ```
    pub fn i32() -> SerdeRef<i32> {
        Arc::new(I32Serde)
    }

    /// Big-endian 64-bit integers ([`I64Serde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::i64().deserialize("t", &[0, 0, 0, 0, 0, 0, 1, 0]).unwrap(), 256);
    /// ```
    pub fn i64() -> SerdeRef<i64> {
        Arc::new(I64Serde)
    }

    /// IEEE-754 single-precision floats, big-endian ([`F32Serde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::f32().serialize("t", &1.0).unwrap(), [0x3f, 0x80, 0, 0]);
    /// ```
    pub fn f32() -> SerdeRef<f32> {
        Arc::new(F32Serde)
    }

    /// IEEE-754 double-precision floats, big-endian ([`F64Serde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::f64().serialize("t", &2.0).unwrap(), [0x40, 0, 0, 0, 0, 0, 0, 0]);
    /// ```
    pub fn f64() -> SerdeRef<f64> {
        Arc::new(F64Serde)
    }

    /// One-byte booleans ([`BoolSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert_eq!(Serdes::bool().serialize("t", &true).unwrap(), [1]);
    /// ```
    pub fn bool() -> SerdeRef<bool> {
        Arc::new(BoolSerde)
    }

    /// The unit type as zero bytes ([`UnitSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    ///
    /// assert!(Serdes::unit().serialize("t", &()).unwrap().is_empty());
    /// ```
    pub fn unit() -> SerdeRef<()> {
        Arc::new(UnitSerde)
    }

    /// JSON through `serde_json` ([`JsonSerde`]).
    ///
    /// ```rust
    /// use std::collections::BTreeMap;
    /// use streams_core::serde::Serdes;
    ///
    /// let serde = Serdes::json::<BTreeMap<String, i32>>();
    /// let value = BTreeMap::from([("a".to_string(), 1)]);
    /// assert_eq!(serde.serialize("t", &value).unwrap(), br#"{"a":1}"#);
    /// ```
    pub fn json<T>() -> SerdeRef<T>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        Arc::new(JsonSerde::<T>::new())
    }

    /// Time-windowed keys around `inner`, for windows of `window_size_ms`
    /// ([`TimeWindowedSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::window::{Window, Windowed};
    ///
    /// let serde = Serdes::time_windowed(Serdes::string(), 100);
    /// let bytes = serde.serialize("t", &Windowed::new("k".to_string(), Window::new(0, 100).unwrap())).unwrap();
    /// assert_eq!(bytes, [b'k', 0, 0, 0, 0, 0, 0, 0, 0]);
    /// assert_eq!(serde.deserialize("t", &bytes).unwrap().window.end(), 100);
    /// ```
    pub fn time_windowed<K: 'static>(
        inner: SerdeRef<K>,
        window_size_ms: i64,
    ) -> SerdeRef<Windowed<K>> {
        Arc::new(TimeWindowedSerde::new(inner, window_size_ms))
    }

    /// Session-windowed keys around `inner` ([`SessionWindowedSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::window::{Window, Windowed};
    ///
    /// let serde = Serdes::session_windowed(Serdes::string());
    /// let key = Windowed::new("k".to_string(), Window::new(5, 8).unwrap());
    /// let bytes = serde.serialize("t", &key).unwrap();
    /// assert_eq!(bytes.len(), 1 + 16);
    /// assert_eq!(serde.deserialize("t", &bytes).unwrap(), key);
    /// ```
    pub fn session_windowed<K: 'static>(inner: SerdeRef<K>) -> SerdeRef<Windowed<K>> {
        Arc::new(SessionWindowedSerde::new(inner))
    }

    /// KTable changes (new and/or old value) around `inner`, in the format
    /// of Kafka Streams' repartition topics ([`ChangeSerde`]).
    ///
    /// ```rust
    /// use streams_core::serde::{Change, Serdes};
    ///
    /// let serde = Serdes::change(Serdes::string());
    /// let change = Change::new(Some("new".to_string()), Some("old".to_string()));
    /// let bytes = serde.serialize("t", &change).unwrap();
    /// assert_eq!(bytes, b"\x06newold\x02");
    /// ```
    pub fn change<V: 'static>(inner: SerdeRef<V>) -> SerdeRef<Change<V>> {
        Arc::new(ChangeSerde::new(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;

    #[test]
    fn factories_use_kafka_encodings() {
        let t = "t";
        assert_eq!(
            Serdes::string().serialize(t, &"é".to_string()).unwrap(),
            [0xc3, 0xa9]
        );
        assert_eq!(Serdes::bytes().serialize(t, &vec![7]).unwrap(), [7]);
        assert_eq!(Serdes::i16().serialize(t, &-1).unwrap(), [0xff, 0xff]);
        assert_eq!(
            Serdes::i32().serialize(t, &0x0a0b0c0d).unwrap(),
            [0x0a, 0x0b, 0x0c, 0x0d]
        );
        assert_eq!(
            Serdes::i64().serialize(t, &1).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(Serdes::f32().serialize(t, &0.5).unwrap(), [0x3f, 0, 0, 0]);
        assert_eq!(
            Serdes::f64().serialize(t, &0.5).unwrap(),
            [0x3f, 0xe0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Serdes::bool().serialize(t, &false).unwrap(), [0]);
        assert_eq!(Serdes::unit().serialize(t, &()).unwrap(), Vec::<u8>::new());
        assert_eq!(
            Serdes::json::<Option<u8>>().serialize(t, &None).unwrap(),
            b"null"
        );
        let windowed = Windowed::new(1i32, Window::new(2, 12).unwrap());
        assert_eq!(
            Serdes::time_windowed(Serdes::i32(), 10)
                .serialize(t, &windowed)
                .unwrap(),
            [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(
            Serdes::session_windowed(Serdes::i32())
                .serialize(t, &windowed)
                .unwrap(),
            [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(
            Serdes::change(Serdes::i32())
                .serialize(t, &Change::new(Some(3), None))
                .unwrap(),
            [0, 0, 0, 3, 1]
        );
    }
}
